"""README.zh-CN.md carries every section and every command of README.md (issue 20 point 8)."""
import re

from test_readme import README, README_ZH, code_blocks, commands, read

# each English section and its Chinese counterpart, in the order both READMEs have them
SECTIONS = {
    "Quick start": "快速上手", "See it learn": "看它学习", "Playground": "实验台", "Chapter → code": "章节 → 代码",
    "The three exercises with your own code": "用你自己的代码做三道练习",
    "The chapter's bias-gradient erratum": "勘误：偏置的梯度", "Results": "结果", "More to type": "更多命令",
    "Data": "数据", "Platforms": "平台", "Beyond the chapter": "超越本章", "Reliability": "可靠性",
    "Performance": "性能", "Layout": "目录结构",
}


def headings(text):
    return re.findall(r"^## (.+?)\s*$", text, re.M)


def runnable(text):
    """The command lines (python …, bash …) of the shell blocks, comments removed."""
    return [c for c in commands(text) if re.match(r"(python3?|bash|sudo) ", c)]


def test_every_english_section_has_its_chinese_section_in_the_same_order():
    en, zh = headings(read(README)), headings(read(README_ZH))
    assert [h for h in en if h in SECTIONS] == en, set(en) - set(SECTIONS)   # a new section needs a name here
    positions = [zh.index(SECTIONS[h]) for h in en]
    assert positions == sorted(positions), zh


def test_every_command_of_the_english_readme_is_in_the_chinese_one():
    en, zh = runnable(read(README)), runnable(read(README_ZH))
    assert len(en) >= 25
    assert sorted(set(en)) == sorted(set(zh)), (set(en) - set(zh), set(zh) - set(en))


def test_the_python_examples_are_the_same_code():
    strip = lambda block: [re.sub(r"\s+#.*$", "", line) for line in block.splitlines()]
    en = [strip(b) for b in code_blocks(read(README), ("python",))]
    zh = [strip(b) for b in code_blocks(read(README_ZH), ("python",))]
    assert en == zh and len(en) >= 2


def test_the_commands_issue_20_found_missing_are_in_the_chinese_readme():
    zh = "\n".join(runnable(read(README_ZH)))
    for command in ("python -m native.gradcheck", "python -m native.data --verify",
                    "python -m native.plot run.npz --only gradcheck", "--engine pure", "--first-layer dense",
                    "python -m native.train --resume run.npz --epochs 15"):
        assert command in zh or command in read(README_ZH), command
    assert "native/trainer.py" in read(README_ZH)


def test_no_readme_measures_on_an_unnamed_machine():
    for name in (README, README_ZH, "docs/erratum.md"):
        text = read(name)
        for phrase in ("this machine", "this project's 2-core", "the AVX-512 machine", "本机", "本项目的双核"):
            assert phrase not in text, (name, phrase)
    for name in (README, README_ZH):
        assert "Intel Xeon" in read(name) and "AMD EPYC" in read(name)

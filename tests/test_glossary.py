"""docs/glossary.md (issue 20 point 9): the chapter's column holds only the chapter's own words, the
English words of the output and pictures are explained, and the relative error is one formula
everywhere (code, --help, glossary, READMEs, picture)."""
import inspect
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Every Chinese word of the chapter's column, each found in the chapter's text
# (seed/chapter5-backprop.md, which the repository does not ship) when this list was written.
CHAPTER_WORDS = {"一小批", "交叉熵", "偏置", "前向传播", "参数更新", "反向传播", "学习率", "学习率衰减", "导数",
                 "小批量随机梯度下降", "损失", "数值梯度", "更新规则", "权重", "样本", "梯度", "梯度下降",
                 "梯度检验", "激活函数", "的导数", "相对误差", "神经元", "观察损失是否下降", "解析梯度",
                 "训练循环", "误差信号", "输出层", "链式法则"}
# Words often used for the chapter's ideas that the chapter itself never writes
NOT_THE_CHAPTERS = {"独热编码", "中心差分", "批大小", "测试准确率", "通过的标准"}


def read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def parts():
    chapter, english = read("docs/glossary.md").split("## 输出和图里的英文词")
    return chapter, english


def first_cells(text):
    return [line.split("|")[1] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith(("| 章节里的词", "| English"))]


def test_the_chapters_column_holds_only_the_chapters_words():
    chapter, _ = parts()
    found = set()
    for cell in first_cells(chapter):
        outside_notes = re.sub(r"（[^）]*）", "", cell)          # our notes are in （…）
        found.update(re.findall(r"[\u4e00-\u9fff]{2,}", outside_notes))
    assert found <= CHAPTER_WORDS, found - CHAPTER_WORDS
    assert not found & NOT_THE_CHAPTERS
    for word in ("导数", "更新规则", "参数更新"):                   # the chapter's, once missing
        assert word in found


def test_words_the_chapter_does_not_use_are_explained_apart():
    _, english = parts()
    cells = " ".join(line.split("|")[2] for line in english.splitlines() if line.startswith("| "))
    for word in NOT_THE_CHAPTERS:
        assert word in cells, word


# English words of the output and pictures, and where each is used
ENGLISH = {
    "nats": "native/plot.py", "recall": "native/evaluate.py", "tensor-relative": "native/gradcheck.py",
    "kink": "pure/gradcheck_cli.py", "within rounding": "pure/gradcheck_cli.py",
    "worst entry": "README.md", "ratio a/n": "pure/gradcheck_diagnosis.py",
    "likely mistake": "pure/gradcheck_diagnosis.py", "confusion matrix": "native/plot.py",
    "misclassified": "native/plot.py", "epoch mean": "native/plot.py", "samples/s": "native/trainer.py",
    "one-hot": "pure/checks.py", "central difference": "pure/gradcheck_cli.py",
    "guessing at random: ln 10": "native/plot.py", "f32~f64": "native/gradcheck.py",
    "yours~numerical": "native/gradcheck.py",
}


@pytest.mark.parametrize("word, used_in", sorted(ENGLISH.items()))
def test_every_english_word_of_the_output_and_pictures_is_explained(word, used_in):
    assert word.lower() in read(used_in).lower() or word.split()[0] in read(used_in), (word, used_in)
    _, english = parts()
    heads = [line.split("|")[1].replace("\\|", "|") for line in english.splitlines() if line.startswith("| ")]
    assert any(word in head for head in heads), word


def test_the_relative_error_is_one_formula_everywhere():
    from pure.gradcheck_rules import RELATIVE_ERROR
    assert RELATIVE_ERROR == "|a−n| / max(|a|+|n|, R/1e-7)"
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONIOENCODING="utf-8")
    texts = {
        "pure --help": subprocess.run([sys.executable, "-m", "pure.gradcheck", "--help"], env=env,
                                      capture_output=True, text=True, encoding="utf-8").stdout,
        "native --help": subprocess.run([sys.executable, "-m", "native.gradcheck", "--help"], env=env,
                                        capture_output=True, text=True, encoding="utf-8").stdout,
        "pure output": subprocess.run([sys.executable, "-m", "pure.gradcheck"], env=env,
                                      capture_output=True, text=True, encoding="utf-8").stdout,
        "glossary": read("docs/glossary.md").replace("\\|", "|"),
        "README.md": read("README.md"), "README.zh-CN.md": read("README.zh-CN.md"),
        "pure/gradcheck.py": read("pure/gradcheck.py"),
    }
    for where, text in texts.items():
        assert RELATIVE_ERROR in text, where
        assert "max(1e-12" not in text and "max(floor" not in text, where
    from native import plot
    assert "RELATIVE_ERROR" in inspect.getsource(plot.draw_gradcheck)      # the picture's axis

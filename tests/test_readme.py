"""The READMEs: both Quick starts say the same, their links and pictures exist, their commands run."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README, README_ZH = "README.md", "README.zh-CN.md"
GLOSSARY = "docs/glossary.md"


def read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def section(text, heading):
    """The text under `## heading`, up to the next `## `."""
    m = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"no '## {heading}' section"
    return m.group(1)


def code_blocks(text, languages=("sh", "bash", "")):
    """The bodies of the fenced blocks in `text` whose language is one of `languages`."""
    blocks, body, lang = [], None, None
    for line in text.splitlines():
        if line.startswith("```"):
            if body is None:
                body, lang = [], line[3:].strip()
            else:
                if lang in languages:
                    blocks.append("\n".join(body))
                body = None
        elif body is not None:
            body.append(line)
    return blocks


def commands(text):
    """Every command line of the shell blocks in `text`, its comment (language-dependent) removed."""
    out = []
    for block in code_blocks(text):
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def test_both_quick_starts_hold_the_same_commands():
    en = commands(section(read(README), "Quick start"))
    zh = commands(section(read(README_ZH), "快速上手"))
    assert en == zh
    # and they are the learner's path: set up, train, draw, check; then the test command
    assert 'python -m pip install -e ".[plot]"' in en
    assert en[-2:] == ['python -m pip install "pytest>=7"', "python -m pytest"]
    # one editable install: each `pip install -e` compiles the C kernels again
    assert sum(c.startswith("python -m pip install -e") for c in en) == 1


def test_quick_start_comparison_sees_a_changed_command():
    zh = read(README_ZH).replace("python -m native.plot run.npz --out figures",
                                 "python -m native.plot run.npz --out figs")
    assert commands(section(read(README), "Quick start")) != commands(section(zh, "快速上手"))


def test_readme_links_the_chinese_readme_and_the_glossary_from_its_top():
    top = "\n".join(read(README).splitlines()[:5])
    assert "(README.zh-CN.md)" in top and f"({GLOSSARY})" in top
    zh_top = "\n".join(read(README_ZH).splitlines()[:5])
    assert "(README.md)" in zh_top and f"({GLOSSARY})" in zh_top
    glossary = read(GLOSSARY)
    assert "(../README.md)" in glossary and "(../README.zh-CN.md)" in glossary


@pytest.mark.parametrize("term", [
    "误差信号", "`delta`", "学习率衰减", "`decay_rate`", "--decay", "小批量随机梯度下降", "梯度检验",
    "数值梯度", "中心差分", "相对误差", "链式法则", "独热编码", "`y_onehot`", "前向传播", "反向传播",
    "交叉熵", "学习率 η", "`lr`", "epoch", "批大小", "`batch_size`",
])
def test_glossary_puts_the_chapters_term_beside_the_code(term):
    rows = [line for line in read(GLOSSARY).splitlines() if line.startswith("|") and term in line]
    assert rows, f"{term!r} is not in a row of {GLOSSARY}"


def local_links(name):
    text = read(name)
    folder = os.path.dirname(name)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        yield os.path.normpath(os.path.join(folder, target.split("#")[0]))


@pytest.mark.parametrize("name", [README, README_ZH, GLOSSARY, "docs/performance.md"])
def test_every_local_link_and_picture_exists(name):
    missing = [t for t in local_links(name) if not os.path.exists(os.path.join(ROOT, t))]
    assert missing == []


@pytest.mark.parametrize("name", [README, README_ZH])
def test_the_readme_pictures_are_small_pngs(name):
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", read(name))
    assert len(pictures) >= 5
    for p in pictures:
        with open(os.path.join(ROOT, p), "rb") as f:
            data = f.read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", p
        assert len(data) < 200_000, f"{p} is {len(data):,} bytes"


def readme_invocations():
    """(module, [--flags]) of every `python -m` command the READMEs show, grouped by module."""
    found = {}
    for name in (README, README_ZH):
        for line in commands(read(name)):
            for part in re.split(r"&&|;", line):
                m = re.match(r"\s*python3? -m (\S+)(.*)", part)
                if m and m.group(1) not in ("venv", "pip", "pytest"):
                    flags = re.findall(r"(?<!\S)(--[a-z][a-z0-9-]*)", m.group(2))
                    found.setdefault(m.group(1), set()).update(flags)
    return sorted((mod, sorted(flags)) for mod, flags in found.items())


def test_the_readme_shows_the_commands_a_learner_needs():
    modules = dict(readme_invocations())
    for mod in ("native.train", "native.plot", "pure.gradcheck", "native.gradcheck", "native.evaluate"):
        assert mod in modules, mod


@pytest.mark.parametrize("module, flags", readme_invocations(), ids=lambda v: str(v))
def test_every_command_in_the_readmes_exists_with_its_options(module, flags):
    r = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert r.returncode == 0, f"python -m {module} --help: {r.stderr[-500:]}"
    for flag in flags:
        assert flag in r.stdout, f"python -m {module} has no {flag}"

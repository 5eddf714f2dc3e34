"""``python -m native.plot --lang zh``: the same pictures with Chinese labels.

The pictures are drawn in English as always; just before a picture is saved,
every text on it is replaced by its Chinese version (``TRANSLATIONS``, whole
texts matched by regular expressions, so the numbers carry over) and set in a
CJK font found on this computer (``find_cjk_font``). Words the chapter itself
writes in English (epoch, ReLU, Softmax) and code names (W1, backward()) stay.
"""
import os
import re

# The usual Chinese fonts, in order of preference: the CJK font of each system first.
CJK_FONTS = (
    "Microsoft YaHei", "SimHei", "DengXian", "SimSun",                     # Windows
    "PingFang SC", "Hiragino Sans GB", "Heiti SC", "STHeiti", "Songti SC",  # macOS
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Noto Serif CJK SC", "Droid Sans Fallback",
    "AR PL UMing CN", "Arial Unicode MS",                                    # Linux, and last resorts
)
# file names of those fonts, for fonts installed after matplotlib built its font cache
_FONT_FILES = re.compile(r"msyh|simhei|simsun|deng|pingfang|hiragino|stheiti|songti|notosanscjk|"
                         r"notoserifcjk|notosanssc|sourcehansans|wqy|wenquanyi|droidsansfallback|"
                         r"uming|arialuni", re.I)
NO_FONT = ("no Chinese (CJK) font found for --lang zh; looked for Microsoft YaHei or SimHei (Windows), "
           "PingFang SC or Hiragino Sans GB (macOS), Noto Sans CJK SC or WenQuanYi Zen Hei (Linux). "
           "Install one — Debian/Ubuntu: sudo apt-get install fonts-noto-cjk; Fedora: sudo dnf install "
           "google-noto-sans-cjk-fonts — or draw in English (--lang en)")
PROBE = "损失梯度"          # a font that has these glyphs can write every label


class NoChineseFont(ImportError):
    """No CJK font on this computer; the message says how to install one."""


def covers(path, text=PROBE):
    """True when the font file at ``path`` has a glyph for every character of ``text``."""
    from matplotlib.ft2font import FT2Font
    try:
        font = FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(ch)) != 0 for ch in text)


def find_cjk_font():
    """(family name, file) of a Chinese font matplotlib can use, or None when there is none."""
    from matplotlib import font_manager
    manager = font_manager.fontManager

    def known():
        by_name = {}
        for entry in manager.ttflist:
            by_name.setdefault(entry.name, entry.fname)
        for name in CJK_FONTS:
            if name in by_name and covers(by_name[name]):
                return name, by_name[name]
        return None

    found = known()
    if found is None:      # installed after matplotlib's font cache was built: add the files
        for path in font_manager.findSystemFonts():
            if _FONT_FILES.search(os.path.basename(path)):
                try:
                    manager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        found = known()
    return found


def _run_title(text):
    for english, chinese in ((r"batch (\d+)", r"批大小 \1"), (r"seed (\d+)", r"种子 \1"),
                             (r"(\w+) engine", r"\1 引擎")):
        text = re.sub(english, chinese, text)
    return text


def _classes(match):
    names = {"T-shirt": "T恤", "trouser": "裤子", "pullover": "套头衫", "dress": "连衣裙", "coat": "外套",
             "sandal": "凉鞋", "shirt": "衬衫", "sneaker": "运动鞋", "bag": "包", "boot": "靴子"}
    return " → ".join(names.get(part, part) for part in match.group(0).split(" → "))


# (English, as the pictures write it; Chinese). Each pattern must match a whole text.
TRANSLATIONS = [
    # learning curves
    (r"loss of each mini-batch", "每个小批量的损失"),
    (r"mean of the last (\d+) batches", r"最近 \1 个小批量的平均"),
    (r"epoch mean \(the loss the trainer prints\)", "每个 epoch 的平均（训练命令打印的损失）"),
    (r"guessing at random: ln 10 ≈ 2\.30", "随机猜测：ln 10 ≈ 2.30"),
    (r"guessing: ln 10", "随机猜测：ln 10"),
    (r"epoch \(dotted lines: epoch boundaries\)", "epoch（虚线：epoch 之间的分界）"),
    (r"cross-entropy loss\n\(nats, log scale\)", "交叉熵损失\n（单位 nats（奈特），对数坐标）"),
    (r"cross-entropy loss\n\(nats, linear scale\)", "交叉熵损失\n（单位 nats（奈特），线性坐标）"),
    (r"Training loss over all (\d+) epochs?, one point per mini-batch",
     r"全部 \1 个 epoch 的训练损失，每个小批量一个点"),
    (r"first batch: (.+)", r"第一个小批量：\1"),
    (r"mini-batch of epoch (\d+)", r"第 \1 个 epoch 的小批量"),
    (r"cross-entropy loss \(nats\)", "交叉熵损失（nats）"),
    (r"Epoch (\d+), batch by batch \(linear scale\)", r"第 \1 个 epoch，逐个小批量（线性坐标）"),
    (r"test accuracy \(%\)", "测试准确率（%）"),
    (r"Test accuracy after each epoch", "每个 epoch 之后的测试准确率"),
    (r"Learning curves — (.+)", lambda m: "学习曲线 — " + _run_title(m.group(1))),
    (r"Learning curves", "学习曲线"),
    # first-layer weights
    (r"hidden units, row by row \(left to right\)", "隐藏单元，逐行排列（从左到右）"),
    (r"weight \(red: ink here raises the unit; blue: lowers it; white: 0\)",
     "权重（红：此处有笔画时抬高该单元；蓝：压低它；白：0）"),
    (r"First layer W1: (?:the first (\d+) of (\d+)|all (\d+)) hidden units, each column of W1 as a "
     r"28×28 image\n\(what each unit looks for\)\. The speckle is left from the random start: the "
     r"gradient Xᵀ·δ₁\nmoves a pixel's weights only when that pixel has ink, so rarely inked pixels "
     r"keep their initial values",
     lambda m: ("第一层 W1：" + (f"{m.group(2)} 个隐藏单元中的前 {m.group(1)} 个" if m.group(1)
                                else f"全部 {m.group(3)} 个隐藏单元") +
                "，W1 的每一列画成一张 28×28 的图\n（每个单元在找什么）。斑点是随机初始值留下的："
                "梯度 Xᵀ·δ₁\n只在像素有笔画时才改变它的权重，很少有笔画的像素保持初始值")),
    # confusion matrix
    (r"predicted class", "预测的类别"),
    (r"true class", "真实类别"),
    (r"test samples \(log scale; blank: none\)", "测试样本数（对数坐标；空白：没有）"),
    (r"Confusion matrix on the ([\d,]+) (\S+) test samples — accuracy ([\d.]+%)"
     r"(?: \(the run itself, --limit (\d+), tested ([\d,]+)\))?\nrow = true class, column = prediction; "
     r"off the diagonal: mistakes",
     lambda m: (f"{m.group(2)} 的 {m.group(1)} 个测试样本上的混淆矩阵 — 准确率 {m.group(3)}"
                + (f"（本次运行用了 --limit {m.group(4)}，测试了 {m.group(5)} 个）" if m.group(4) else "")
                + "\n行 = 真实类别，列 = 预测；对角线以外：错误")),
    # misclassified digits
    (r"no misclassified samples", "没有分错的样本"),
    (r"([\d,]+) of the ([\d,]+) test samples are misclassified; the first (\d+), in test-set order\n"
     r"above each: true → predicted class; below: its index in the test set",
     r"\2 个测试样本中有 \1 个分错了；按测试集顺序的前 \3 个\n"
     r"上方：真实类别 → 预测类别；下方：它在测试集里的序号"),
    (r"[\w-]+ → [\w-]+", _classes),
    # exercise 3
    (r"the chapter's ∂L/∂b = mean\(δ\)", "章节的 ∂L/∂b = mean(δ)"),
    (r"pass below (\S+) \(this project, float64\)", r"低于 \1 即通过（本项目，float64）"),
    (r"pass below \(per parameter\)", "低于此线即通过（每个参数）"),
    (r"the chapter's bound: 1e-5", "章节的标准：1e-5"),
    (r"parameter \(W1, b1: the first layer, as in the chapter\)", "参数（W1、b1：第一层，与章节相同）"),
    (r"largest relative error \(log scale\)\n(.+)", r"最大相对误差（对数坐标）\n\1"),
    (r"Exercise 3: backward\(\) against the numerical gradient — (\S+) network, (\d+) samples\n"
     r"the chapter's mean\(δ\) makes each bias gradient N = (\d+) times too small: relative error "
     r"\(N−1\)/\(N\+1\) = (\S+)",
     r"练习 3：backward() 对比数值梯度 — \1 网络，\2 个样本\n"
     r"章节的 mean(δ) 让每个偏置梯度小了 N = \3 倍：相对误差 (N−1)/(N+1) = \4"),
    (r"the check's diagnosis of mean\(δ\): a/n = (\S+) = 1/N on every bias entry, the weights pass\n"
     r"→ the chapter's bias line; write sum\(δ, axis=0\) \(docs/erratum\.md\)",
     r"检验对 mean(δ) 的诊断：每个偏置项 a/n = \1 = 1/N，权重都通过\n"
     r"→ 是章节的偏置那一行；应写 sum(δ, axis=0)（docs/erratum.md）"),
    (r"the check's diagnosis of mean\(δ\): the biases fail, the weights pass\n"
     r"→ the chapter's bias line; write sum\(δ, axis=0\) \(docs/erratum\.md\)",
     "检验对 mean(δ) 的诊断：偏置不通过，权重都通过\n"
     "→ 是章节的偏置那一行；应写 sum(δ, axis=0)（docs/erratum.md）"),
    # a student's own losses
    (r"each loss in your list", "你列表里的每个损失"),
    (r"mean of the last (\d+)", r"最近 \1 个的平均"),
    (r"first: (.+)", r"第一个：\1"),
    (r"last: (.+)", r"最后一个：\1"),
    (r"position in your list \(1 = the first loss you recorded\)", "在你列表中的位置（1 = 你记录的第一个损失）"),
    (r"loss \(nats, linear scale\)", "损失（nats，线性坐标）"),
    (r"Your losses from (.+): ([\d,]+) values; the loss fell from (\S+) to (\S+)",
     r"你的损失（\1）：\2 个值；损失从 \3 降到了 \4"),
    (r"Your losses from (.+): ([\d,]+) values; the loss did not fall from (\S+) to (\S+)",
     r"你的损失（\1）：\2 个值；损失没有下降（从 \3 到 \4）"),
]
_COMPILED = [(re.compile(pattern, re.S), chinese) for pattern, chinese in TRANSLATIONS]


def translate(text):
    """The Chinese version of one text of a picture; the text itself when it has no words to translate."""
    for pattern, chinese in _COMPILED:
        match = pattern.fullmatch(text)
        if match:
            return chinese(match) if callable(chinese) else match.expand(chinese)
    return text


def to_chinese(fig, font):
    """Every text of ``fig`` translated and set in ``font`` (a family name), with DejaVu Sans for the
    symbols the CJK font lacks. Returns the texts that are left in English (for tests)."""
    from matplotlib.text import Text
    left = []
    for artist in fig.findobj(Text):
        text = artist.get_text()
        chinese = translate(text)
        if chinese != text:
            artist.set_text(chinese)
            if "\n" in chinese:
                artist.set_linespacing(1.35)     # CJK glyphs are taller than DejaVu's
        elif re.search(r"[A-Za-z]{3,}", text):
            left.append(text)
        artist.set_fontfamily([font, "DejaVu Sans"])
    return left

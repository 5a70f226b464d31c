"""A Chinese ↔ English glossary of the course: the terms of its bilingual headings and of the source texts.

The source documents are Chinese, the course's text is English, and every
section heading carries both ("## 5. Pooling (池化)"). :data:`TERMS` holds
each Chinese term once with its English and the chapter that teaches it;
:func:`lookup` translates either way, :func:`table` gives the rows to show (:func:`markdown` as a Markdown table),
and :func:`heading_terms` splits a heading's Chinese part into the terms a
test looks up (chapter 15 shows the table).

Lookups ignore spaces and case ("GPU 环境安装" = "GPU环境安装", "Pooling" =
"pooling"). Framework-free: importing this module imports no framework.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """One glossary entry: the Chinese term, its English, and the chapter ("00"–"15") that teaches it."""

    zh: str
    en: str
    chapter: str


def _terms(chapter: str, pairs: str) -> tuple[Term, ...]:
    """Terms of ``chapter`` from lines "中文 = English"."""
    rows = [line.split(" = ", 1) for line in pairs.strip().splitlines()]
    return tuple(Term(zh.strip(), en.strip(), chapter) for zh, en in rows)


TERMS: tuple[Term, ...] = (
    *_terms("00", """
实战部署环境准备 = preparing the deployment environment
软件版本 = software versions
计算设备 = compute devices
GPU 环境安装 = installing for a GPU
线程 = threads
随机种子 = random seed
可复现性 = reproducibility
环境自检 = environment self-check (the doctor)
为什么不下载任何东西 = why nothing downloads
练习怎么用 = how the exercises work
练习 = exercises
小结 = summary
总结 = summary; conclusion
延伸阅读 = further reading
"""),
    *_terms("01", """
背景介绍 = background
模态 = modality
多模态 = multimodal
单模态模型 = single-modality model
多模态大模型 = large multimodal model
课程数据一览 = a tour of the course data
图像 = image
文本 = text
音频 = audio
手写数字 = handwritten digits
形状场景 = shape scenes
语音数字 = spoken digits
语料库 = corpus
视听数字 = audio-visual digits
实际应用场景 = applications; where the models are used
发展简史 = a short history
语音识别 = speech recognition
图像识别 = image recognition
自然语言处理 = natural language processing
"""),
    *_terms("02", """
核心概念 = core concepts
联系 = connections
四个核心概念及其联系 = four core concepts and how they connect
表示 = representation
对齐 = alignment
单一模态不够 = one modality is not enough
模态融合 = modality fusion
互补的错误 = complementary errors
退化程度 = degree of degradation
融合收益 = fusion gain
跨模态迁移 = cross-modal transfer
跨领域知识迁移 = cross-domain knowledge transfer
跨模态学习 = cross-modal learning
泛化能力 = generalisation
"""),
    *_terms("03", """
核心算法原理具体操作步骤 = core algorithm, step by step
五个步骤 = five steps
源代码骨架 = the source's code skeleton
数据预处理 = data preprocessing
数据清洗 = data cleaning
数据标准化 = standardisation (of data)
归一化 = normalisation
灰度化 = conversion to greyscale
分词 = tokenisation
词向量化 = vectorising words
任务 = task
特征提取 = feature extraction
模型训练 = model training
验证 = verification
两个框架 = two frameworks
同一个模型 = the same model
模型评估 = model evaluation
训练集 = training set
验证集 = validation set
测试集 = test set
"""),
    *_terms("04", """
数学模型 = mathematical model
卷积神经网络 = convolutional neural network (CNN)
为什么卷积适合图像 = why convolutions suit images
卷积 = convolution
互相关 = cross-correlation
输出尺寸 = output size
填充 = padding
步幅 = stride
膨胀 = dilation
把卷积变成矩阵乘法 = a convolution as one matrix product
池化 = pooling
卷积的反向传播 = backpropagation through a convolution
梯度检验 = gradient check
与 PyTorch 和 Keras 的一致性 = parity with PyTorch and Keras
经典卷积核 = classic kernels
速度 = speed
PyTorch 与 Keras 中的小型 CNN = a small CNN in PyTorch and Keras
训练 = training
第一层学到了什么 = what the first layer learned
"""),
    *_terms("05", """
循环神经网络 = recurrent neural network (RNN)
词向量 = word vectors
隐藏层 = hidden layer
输出层 = output layer
随时间反向传播 = backpropagation through time (BPTT)
梯度消失 = vanishing gradients
梯度爆炸 = exploding gradients
门控循环单元 = gated recurrent unit (GRU)
长短期记忆 = long short-term memory (LSTM)
一步的门值 = one step's gate values
细胞状态 = cell state
梯度的高速公路 = a highway for the gradient
实战 = hands-on
语音数字分类 = spoken-digit classification
为什么 RNN 慢 = why RNNs are slow
从词袋 V 到词向量 W = from bag of words V to word vectors W
词袋 = bag of words
语料 = corpus (text)
跳字模型 = skip-gram
负采样 = negative sampling
词向量作为 RNN 的输入 = word vectors as the RNN's input
词嵌入 = word embedding
"""),
    *_terms("06", """
多模态融合 = multimodal fusion
问题 = the problem
两个不完整的信号 = two incomplete signals
拼接融合 = concatenation fusion
加权求和 = weighted sum
决策级融合 = late (decision-level) fusion
门控融合 = gated fusion
张量融合 = tensor fusion (TFN)
低秩融合 = low-rank fusion (LMF)
交叉注意力 = cross-attention
同一个算子 = the same operator
基准实验 = benchmark
模态缺失 = missing modality
特征融合 = feature fusion
"""),
    *_terms("07", """
项目实践 = hands-on project
数据 = data
划分 = splits
源代码的问题 = what is wrong with the source's code
Keras 实现 = the Keras implementation
PyTorch 实现 = the PyTorch implementation
训练循环 = training loop
评估 = evaluation
准确率 = accuracy
精确率 = precision
召回率 = recall
F1 分数 = F1 score
消融实验 = ablation study
GPU 练习 = GPU exercise
损失函数 = loss function
优化器 = optimiser
早停 = early stopping
"""),
    *_terms("08", """
从BERT到ChatGPT = from BERT to ChatGPT
为什么注意力取代了RNN = why attention replaced the RNN
注意力 = attention
缩放点积注意力 = scaled dot-product attention
多头注意力 = multi-head attention
位置编码 = positional encoding
Transformer块 = Transformer block
解码 = decoding
采样 = sampling
自回归语言模型 = autoregressive language model
语言模型 = language model (LM)
KV缓存 = KV cache
掩码语言模型 = masked language model
从语言模型到对话模型 = from a language model to a chat model
指令微调 = instruction tuning
预训练模型 = pretrained model
"""),
    *_terms("09", """
跨模态对比学习 = cross-modal contrastive learning
对比损失 InfoNCE = the InfoNCE contrastive loss
图文对 = image–text pairs
组合泛化 = compositional generalisation
迷你CLIP = mini-CLIP
零样本分类 = zero-shot classification
提示 = prompt
困难负样本 = hard negatives
用真实的预训练模型 = with real pretrained models
"""),
    *_terms("10", """
视觉语言模型 = vision-language model (VLM)
种子代码的问题 = what the seed's code is missing
LLaVA 的做法 = LLaVA's recipe
训练好的模型 = the trained model
基线 = baseline
消融 = ablation
Keras双胞胎 = the Keras twin
真实模型 = real models
视觉问答 = visual question answering (VQA)
"""),
    *_terms("11", """
生成模型 = generative models
扩散 = diffusion
两个文本到图像的数据集 = two text-to-image data sets
文本编码器 = text encoder
评价 = evaluation (of generated images)
一致性 = consistency
Fréchet 距离 = Fréchet distance
多样性 = diversity
条件生成对抗网络 = conditional GAN
生成式对抗网络 = generative adversarial network (GAN)
模式崩塌 = mode collapse
Keras 孪生模型 = the Keras twin
扩散模型 = diffusion model
没见过的组合 = combinations never seen
对比 = side by side
"""),
    *_terms("12", """
声学模型 = acoustic model (AM)
从 MFCC 到模型 = from MFCC frames to models
一维卷积网络 = 1-D convolutional network
连接时序分类 = connectionist temporal classification (CTC)
用 CTC 训练识别器 = training a recogniser with CTC
贪心解码 = greedy decoding
前缀束搜索 = prefix beam search
噪声下的视听融合 = audio-visual fusion under noise
"""),
    *_terms("13", """
交互式学习 = interactive learning
强化学习 = reinforcement learning
策略梯度 = policy gradient
拼写数字 = spelling digits
偏好数据 = preference data
奖励模型 = reward model
基于人类反馈的强化学习 = reinforcement learning from human feedback (RLHF)
直接偏好优化 = direct preference optimisation (DPO)
效果对比 = before and after
奖励投机 = reward hacking
"""),
    *_terms("14", """
部署 = deployment
扩展 = scaling out
要部署的模型 = the model to ship
模型导出 = model export
量化 = quantisation
动态量化 = dynamic quantisation
线程数 = thread count
模型服务 = model serving
数据并行 = data parallelism
分布式训练 = distributed training
混合精度 = mixed precision
延迟 = latency
吞吐量 = throughput
"""),
    *_terms("15", """
应用 = applications
工具 = tools
趋势 = trends
常见问题 = frequently asked questions (FAQ)
解答 = answers
工具和资源推荐 = tools and resources
未来发展趋势 = future trends
挑战 = challenges
图像搜索 = image search
智能客服 = customer-service assistant
检索增强生成 = retrieval-augmented generation (RAG)
医疗诊断 = medical diagnosis
自动驾驶 = autonomous driving
视频推荐 = video recommendation
金融分析 = financial analysis
课程无法在此构建的应用 = applications the course cannot build here
隐私 = privacy
联邦学习 = federated learning
联邦平均 = federated averaging (FedAvg)
差分隐私 = differential privacy
数据标注 = data labelling
标注成本 = labelling cost
视频 = video
更多模态 = more modalities
深度融合 = deeper fusion
计算资源 = compute resources
算力 = compute (computing power)
更强大的模型 = bigger models
效率 = efficiency
术语表 = glossary
情感分析 = sentiment analysis
问答系统 = question answering system
图像分类 = image classification
目标检测 = object detection
监督学习 = supervised learning
无监督学习 = unsupervised learning
深度学习 = deep learning
"""),
)

_CJK = re.compile(r"[\u3400-\u9fff]")
_HEADING_ZH = re.compile(r"\(([^()]*[\u3400-\u9fff][^()]*)\)\s*$")
_SPLIT = re.compile(r"\s*(?:[:：、,，+]|\bvs\b)\s*|(?<=[\u3400-\u9fff])\s*与\s*|\s*与\s*(?=[\u3400-\u9fff])")


def _key(text: str) -> str:
    """What lookups compare: the text without whitespace, case-folded."""
    return "".join(text.split()).casefold()


_BY_ZH = {_key(t.zh): t for t in TERMS}
_BY_EN: dict[str, Term] = {}
for _term in TERMS:
    for _english in (_term.en, *_term.en.replace(")", "").split(" (")[1:]):  # "... (CNN)" also answers to "CNN"
        _BY_EN.setdefault(_key(_english), _term)


def _check_text(text, name: str = "term") -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{name} must be a non-empty string, got {text!r}")
    return text


def lookup(term: str) -> str:
    """The other language's term: Chinese in → English out, English in → Chinese out.

    Raises ``KeyError`` naming the closest entries when the term is not in the glossary.
    """
    _check_text(term)
    table_ = _BY_ZH if _CJK.search(term) else _BY_EN
    found = table_.get(_key(term))
    if found is None:
        close = difflib.get_close_matches(_key(term), list(table_), n=3, cutoff=0.5)
        raise KeyError(f"{term!r} is not in the glossary" + (f"; close: {', '.join(close)}" if close else ""))
    return found.en if table_ is _BY_ZH else found.zh


def to_english(zh: str) -> str:
    """The English of a Chinese term (``KeyError`` if absent)."""
    if not _CJK.search(_check_text(zh, "zh")):
        raise ValueError(f"zh must contain Chinese characters, got {zh!r}")
    return lookup(zh)


def to_chinese(en: str) -> str:
    """The Chinese of an English term (``KeyError`` if absent)."""
    if _CJK.search(_check_text(en, "en")):
        raise ValueError(f"en must be English, got {en!r}")
    return lookup(en)


def table(chapter: str | None = None) -> list[tuple[str, str, str]]:
    """Rows (中文, English, chapter) sorted by chapter then English; only ``chapter``'s ("00"–"15") when given."""
    if chapter is not None and not (isinstance(chapter, str) and re.fullmatch(r"\d\d", chapter)):
        raise ValueError(f"chapter must be None or two digits such as '08', got {chapter!r}")
    rows = [(t.zh, t.en, t.chapter) for t in TERMS if chapter in (None, t.chapter)]
    return sorted(rows, key=lambda row: (row[2], row[1].casefold()))


def markdown(chapter: str | None = None) -> str:
    """:func:`table` as a Markdown table (中文 | English | chapter), for ``IPython.display.Markdown``."""
    lines = ["| 中文 | English | chapter |", "|---|---|---|"]
    return "\n".join(lines + [f"| {zh} | {en} | {ch} |" for zh, en, ch in table(chapter)])


def heading_terms(heading: str) -> list[str]:
    """The Chinese terms of a bilingual heading: its last parenthesised group, split on : 、 , + vs and 与.

    "与" ("and") splits only where a Chinese character stands next to it
    ("随机种子与可复现性" is two terms; "与 PyTorch 和 Keras 的一致性" and
    "PyTorch 与 Keras 中的小型 CNN" are one each).

    "## 3. Output size: padding, stride, dilation (输出尺寸: 填充、步幅、膨胀)" ->
    ["输出尺寸", "填充", "步幅", "膨胀"]. Parts without Chinese ("BPTT", "TFN")
    are dropped; a heading without a Chinese group gives [].
    """
    _check_text(heading, "heading")
    match = _HEADING_ZH.search(heading)
    if match is None:
        return []
    return [part.strip() for part in _SPLIT.split(match.group(1)) if _CJK.search(part.replace("与", ""))]


def missing_terms(headings: list[str]) -> list[tuple[str, str]]:
    """(heading, term) for every Chinese term of the headings that the glossary lacks."""
    return [(heading, term) for heading in headings for term in heading_terms(heading) if _key(term) not in _BY_ZH]

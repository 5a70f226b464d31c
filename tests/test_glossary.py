"""The zh ↔ en glossary translates both ways and covers every bilingual heading of the solution notebooks."""
import json
import re
from pathlib import Path

import pytest

from mmcourse import glossary

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile(r"[\u3400-\u9fff]")
SEED_TERMS = ("背景介绍", "核心概念", "联系", "数据预处理", "特征提取", "模态融合", "模型训练", "卷积神经网络",
              "循环神经网络", "跨模态学习", "强化学习", "加权求和", "词嵌入", "生成式对抗网络", "语言模型", "声学模型",
              "实际应用场景", "智能客服", "图像搜索", "视频推荐", "自动驾驶", "医疗诊断", "金融分析", "工具和资源推荐",
              "未来发展趋势", "挑战", "常见问题", "解答", "隐私", "数据标注", "计算资源", "深度融合")


def headings() -> list[tuple[str, str]]:
    """(notebook, heading line) for every markdown heading of every solution notebook."""
    found = []
    for path in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "markdown":
                found += [(path.name, line) for line in "".join(cell["source"]).splitlines()
                          if re.match(r"#{1,6} ", line)]
    return found


def test_lookup_translates_both_ways():
    assert glossary.lookup("池化") == "pooling"
    assert glossary.lookup("pooling") == "池化"
    assert glossary.to_english("模态融合") == "modality fusion"
    assert glossary.to_chinese("cross-attention") == "交叉注意力"


def test_lookup_ignores_spaces_and_case_and_knows_abbreviations():
    assert glossary.lookup("GPU环境安装") == glossary.lookup("GPU 环境安装") == "installing for a GPU"
    assert glossary.lookup("  Pooling ") == "池化"
    assert glossary.lookup("CNN") == "卷积神经网络"
    assert glossary.lookup("RAG") == "检索增强生成"


def test_unknown_terms_raise_with_close_suggestions():
    with pytest.raises(KeyError, match="not in the glossary; close: .*pooling"):
        glossary.lookup("poolin")
    with pytest.raises(KeyError, match="not in the glossary"):
        glossary.lookup("量子计算")


@pytest.mark.parametrize("bad", [None, "", "   ", 3])
def test_bad_input_raises_value_error(bad):
    with pytest.raises(ValueError, match="non-empty string"):
        glossary.lookup(bad)


def test_to_english_and_to_chinese_check_the_language():
    with pytest.raises(ValueError, match="Chinese characters"):
        glossary.to_english("pooling")
    with pytest.raises(ValueError, match="must be English"):
        glossary.to_chinese("池化")


def test_terms_are_unique_bilingual_and_dated():
    assert len(glossary.TERMS) >= 60
    keys = ["".join(t.zh.split()) for t in glossary.TERMS]
    assert len(keys) == len(set(keys))
    for term in glossary.TERMS:
        assert CJK.search(term.zh) and not CJK.search(term.en) and re.fullmatch(r"\d\d", term.chapter), term
        assert 0 <= int(term.chapter) <= 15


def test_the_seeds_terms_are_in_the_glossary():
    for term in SEED_TERMS:
        assert glossary.lookup(term)


def test_table_is_sorted_and_filters_by_chapter():
    rows = glossary.table()
    assert len(rows) == len(glossary.TERMS)
    assert rows == sorted(rows, key=lambda row: (row[2], row[1].casefold()))
    assert ("池化", "pooling", "04") in glossary.table("04")
    assert {row[2] for row in glossary.table("09")} == {"09"}
    with pytest.raises(ValueError, match="two digits"):
        glossary.table("9")


def test_markdown_has_one_line_per_term():
    text = glossary.markdown("04").splitlines()
    assert text[:2] == ["| 中文 | English | chapter |", "|---|---|---|"]
    assert len(text) == 2 + len(glossary.table("04")) and "| 池化 | pooling | 04 |" in text


@pytest.mark.parametrize("heading, terms", [
    ("## 3. Output size: padding, stride, dilation (输出尺寸: 填充、步幅、膨胀)", ["输出尺寸", "填充", "步幅", "膨胀"]),
    ("## 5. Seeds and determinism (随机种子与可复现性)", ["随机种子", "可复现性"]),
    ("## 7. Parity with PyTorch and Keras (与 PyTorch 和 Keras 的一致性)", ["与 PyTorch 和 Keras 的一致性"]),
    ("## 9. The speed lesson (速度: NumPy 与 PyTorch)", ["速度"]),
    ("## 2. Backpropagation through time (随时间反向传播, BPTT)", ["随时间反向传播"]),
    ("## 4. The compositional split (组合泛化 vs 词袋)", ["组合泛化", "词袋"]),
    ("### 2.2 See and read: shape scenes (图像 + 文本: 形状场景)", ["图像", "文本", "形状场景"]),
    ("## Summary", []),
])
def test_heading_terms_splits_a_heading_into_its_terms(heading, terms):
    assert glossary.heading_terms(heading) == terms


def test_every_bilingual_heading_of_the_solutions_is_in_the_glossary():
    found = headings()
    bilingual = [line for _, line in found if glossary.heading_terms(line)]
    assert len(bilingual) > 150  # the scan really reads every notebook
    missing = [(name, line, term) for name, line in found for _, term in glossary.missing_terms([line])]
    assert not missing, f"add these terms to mmcourse/glossary.py (notebook, heading, term): {missing}"

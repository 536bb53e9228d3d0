#!/usr/bin/env python3
"""Writes fixtures/edge/: small hand-made rolls, one per input trap.
All ID numbers are synthetic (valid check digits on made-up people).
Run from the repository root; the files are committed."""
import os

W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
C = "10X98765432"

def idn(body17):
    return body17 + C[sum(int(d) * w for d, w in zip(body17, W)) % 11]

A = idn("41032219800101001")   # 户主 of household D1
B = idn("41032219820202002")
K = idn("41032220100303003")
E = idn("41032319500505005")   # household D2
P1 = idn("41032219700707007")  # poor roll people
P2 = idn("41032219720808008")

DIBAO_H = "区划代码,户编号,姓名,身份证号,与户主关系,保障类别,月保障金,家庭月人均收入,纳入日期"
POOR_H = ("区划代码,户编号,姓名,身份证号,与户主关系,贫困户属性,贫困户状态,脱贫年度,主要致贫原因,人均纯收入,"
          "劳动技能,健康状况,在校生状况,参加城乡居民基本医疗保险,住房安全,饮水安全")
V = "410322102203"

def dibao(rows):
    return [DIBAO_H] + [",".join(r) for r in rows]

good = [
    [V, "D1", "张三", A, "户主", "一类", "600", "200", "2017-03-01"],
    [V, "D1", "李梅", B, "配偶", "一类", "600", "200", "2017/03/01"],
    [V, "D1", "张小明", K, "子", "一类", "600", "200", "20170301"],
    ["410323101201", "D2", "王五", E, "户主", "二类", "300", "350", "2016年5月1日"],
]

def write(name, text, encoding="utf-8", bom=False, eol="\n"):
    data = eol.join(text) + eol
    raw = data.encode(encoding)
    if bom:
        raw = b"\xef\xbb\xbf" + raw
    with open(os.path.join("fixtures/edge", name), "wb") as f:
        f.write(raw)

os.makedirs("fixtures/edge", exist_ok=True)
write("poor.csv", [POOR_H,
    ",".join([V, "P1", "赵六", P1, "户主", "一般贫困户", "未脱贫", "", "因病", "2800", "普通劳动力", "患有大病", "非在校生", "是", "是", "是"]),
    ",".join([V, "P1", "钱七", P2, "配偶", "一般贫困户", "未脱贫", "", "因病", "2800", "弱劳动力或半劳动力", "健康", "非在校生", "是", "是", "是"]),
])
write("dibao_gb18030.csv", dibao(good), encoding="gb18030")
# BOM, CRLF, and a blank line and a line of empty cells in the middle.
lines = dibao(good)
write("dibao_bom_crlf.csv", lines[:3] + ["", ",,,,,,,,"] + lines[3:], bom=True, eol="\r\n")
# 15-digit legacy numbers: both widen to 18 (sequence 997, once reserved
# for the 1800s, is widened like any other, as the contract says).
write("dibao_legacy15.csv", dibao([
    [V, "D1", "张三", "410322800101001", "户主", "一类", "600", "200", ""],
    [V, "D1", "张老太", "410322050101997", "母亲", "一类", "600", "200", ""],
]))
# Full-width digits and X, ideographic spaces, a quoted thousands comma.
write("dibao_fullwidth.csv", dibao([
    [V, "D1", "\u3000张三\u3000", "".join(chr(ord(c) + 0xFEE0) for c in A), "户主", "一类", '"1,200"', "２００", ""],
    [V, "D1", "李梅", B[:6] + " " + B[6:], "配偶", "一类", '"1,200"', "２００", ""],
]))
# Excel damage: scientific notation, and 15 significant digits padded with 000.
write("dibao_excel.csv", dibao([
    [V, "D1", "张三", "4.10322E+17", "户主", "一类", "600", "200", ""],
    [V, "D1", "李梅", B[:15] + "000", "配偶", "一类", "600", "200", ""],
    [V, "D1", "张小明", K, "子", "一类", "600", "200", "not a date"],
]))
# Malformed rows among good ones: 6 good, 4 rejected for different reasons.
write("dibao_malformed.csv", dibao(good + [
    [V, "D3", "孙八", idn("41032219900909009"), "户主", "一类", "600", "200", ""],
    [V, "D3", "周九", idn("41032219911010010"), "配偶", "一类", "600", "200", ""],
]) + [
    f"{V},D4,吴十",                                                     # too few fields
    f"{V},D4,郑一,{idn('41032219601111011')},户主,一类,六百,200,",        # bad decimal
    f"{V},D4,,{idn('41032219601212012')},配偶,一类,600,200,",             # missing name
    f"4103,D5,冯二,{idn('41032219601313013')},户主,一类,600,200,",        # bad region code
])
write("dibao_missing_column.csv", ["区划代码,户编号,姓名,身份证号,与户主关系,家庭月人均收入", f"{V},D1,张三,{A},户主,200"])
write("dibao_header_only.csv", [DIBAO_H])
open("fixtures/edge/dibao_empty.csv", "wb").close()
# English aliases in any case, extra columns, headers padded with spaces.
write("dibao_english.csv", [" REGION_CODE ,Household_ID,name,ID_Number,relation,monthly_benefit,monthly_income,备注"] +
      [",".join([r[0], r[1], r[2], r[3], r[4], r[6], r[7], "x"]) for r in good])
print("ids:", A, B, K, E, P1, P2)

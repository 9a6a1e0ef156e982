#!/usr/bin/env python3
"""Writes tests/fixtures/pii_corpus.jsonl: texts in English, German and Chinese, each labelled
with the kinds of personal data it holds, for the detectors' precision and recall test
(tests/pii_corpus.rs).

Values are made here from their own definitions (Luhn, ISO 13616 mod 97, GB 11643 MOD 11-2, the
SSA's issued ranges, E.164 and national dialling forms), not with vouch's code, and set into
sentences of the kind people write in support tickets, clinic notes and forms. Hard negatives
are the look-alikes that trip detectors: order, invoice and tracking numbers, timestamps, Unix
times, version strings, ISBNs, prices, dates, and words with a medical and an everyday sense.

Run: python3 scripts/corpus/make_pii_corpus.py  (deterministic: a fixed seed)
"""
import json
import random
from pathlib import Path

R = random.Random(20261203)
OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "pii_corpus.jsonl"


def luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def card() -> str:
    kind = R.choice(["visa", "mc", "amex", "mc2"])
    if kind == "visa":
        n = luhn_complete("4" + "".join(R.choice("0123456789") for _ in range(14)))
        return R.choice([" ", "-", ""]).join(n[i:i + 4] for i in range(0, 16, 4))
    if kind == "mc":
        n = luhn_complete(str(R.randint(51, 55)) + "".join(R.choice("0123456789") for _ in range(13)))
        return R.choice([" ", ""]).join(n[i:i + 4] for i in range(0, 16, 4))
    if kind == "mc2":
        n = luhn_complete(str(R.randint(2221, 2720)) + "".join(R.choice("0123456789") for _ in range(11)))
        return " ".join(n[i:i + 4] for i in range(0, 16, 4))
    n = luhn_complete(R.choice(["34", "37"]) + "".join(R.choice("0123456789") for _ in range(12)))
    return f"{n[:4]} {n[4:10]} {n[10:]}"


def iban_check(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{98 - int(digits) % 97:02d}"


def iban() -> str:
    country = R.choice(["DE", "GB", "FR", "NL", "AT"])
    if country == "DE":
        bban = "".join(R.choice("0123456789") for _ in range(18))
    elif country == "GB":
        bban = R.choice(["WEST", "BARC", "LOYD", "NWBK"]) + "".join(R.choice("0123456789") for _ in range(14))
    elif country == "FR":
        bban = "".join(R.choice("0123456789") for _ in range(23))
    elif country == "NL":
        bban = R.choice(["ABNA", "INGB", "RABO"]) + "".join(R.choice("0123456789") for _ in range(10))
    else:
        bban = "".join(R.choice("0123456789") for _ in range(16))
    s = country + iban_check(country, bban) + bban
    style = R.choice(["groups", "compact", "lower"])
    if style == "groups":
        return " ".join(s[i:i + 4] for i in range(0, len(s), 4))
    if style == "lower":
        return s.lower()
    return s


AREAS = ["110105", "310101", "440304", "320102", "510104", "420106", "370202"]


def cn_id() -> str:
    area = R.choice(AREAS)
    y, m, d = R.randint(1950, 2005), R.randint(1, 12), R.randint(1, 28)
    if R.random() < 0.25:
        # First generation: 15 digits, two-digit year in the 1900s, no check character.
        return f"{area}{y % 100:02d}{m:02d}{d:02d}{R.randint(0, 999):03d}"
    body = f"{area}{y:04d}{m:02d}{d:02d}{R.randint(0, 999):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    s = sum(int(c) * w for c, w in zip(body, weights))
    return body + "10X98765432"[s % 11]


def ssn() -> str:
    while True:
        area = R.randint(1, 899)
        if area != 666:
            break
    sep = R.choice(["-", " "])
    return f"{area:03d}{sep}{R.randint(1, 99):02d}{sep}{R.randint(1, 9999):04d}"


def phone(lang: str) -> str:
    forms = {
        "en": ["+44 20 7946 {:04d}", "+1 (415) 555-{:04d}", "07911 {:06d}", "(212) 555-{:04d}",
               "+1 212 555 {:04d}"],
        "de": ["030 {:06d}", "0151 {:08d}", "+49 30 {:06d}", "089/{:07d}", "+49 151 {:08d}"],
        "zh": ["138{:08d}", "139-{:04d}-5678", "010-{:08d}", "+86 138 {:04d} 5678", "021-{:08d}"],
    }
    form = R.choice(forms[lang])
    width = int(form.split(":")[1].split("d")[0]) if ":" in form else 4
    return form.format(R.randint(10 ** (width - 1), 10 ** width - 1))


def ip() -> str:
    if R.random() < 0.2:
        return "2001:db8:{:x}::{:x}".format(R.randint(1, 0xffff), R.randint(1, 0xffff))
    return ".".join(str(x) for x in [R.randint(11, 223), R.randint(0, 255), R.randint(0, 255), R.randint(1, 254)])


NAMES = {"en": ["jane.doe", "john.smith", "a.patel", "m.garcia"],
         "de": ["jürgen.müller", "anna.schmidt", "k.weber", "lena.fischer"],
         "zh": ["zhang.wei", "li.na", "张三", "wang.fang"]}
DOMAINS = {"en": ["example.com", "mail.example.co.uk", "example.org"],
           "de": ["beispiel.de", "müller.de", "example.de"],
           "zh": ["例子.中国", "example.cn", "qq-example.com"]}


def email(lang: str) -> str:
    name = R.choice(NAMES[lang])
    domain = R.choice(DOMAINS[lang])
    if not name.isascii() and domain.isascii():
        domain = "例子.中国" if lang == "zh" else "müller.de"
    return f"{name}@{domain}"


TEMPLATES = {
    "email": {
        "en": ["Please reply to {} about my refund.", "My address changed, use {} from now on.",
               "Contact: {}", "Forward the report to {} by Friday."],
        "de": ["Bitte antworten Sie an {}.", "Meine neue Adresse lautet {}.",
               "Kontakt: {}", "Schicken Sie die Unterlagen an {}, danke."],
        "zh": ["请回复到 {} 谢谢", "我的邮箱是 {}", "联系人邮箱：{}", "请把报告发到 {} 。"],
    },
    "phone": {
        "en": ["Call me back on {} after six.", "My number is {}.", "Phone: {}", "Reach the ward at {}."],
        "de": ["Rufen Sie mich unter {} an.", "Meine Nummer ist {}.", "Tel.: {}", "Erreichbar unter {} ab 9 Uhr."],
        "zh": ["我的电话是 {}", "请拨打 {} 联系我", "手机：{}", "有问题请打 {} 。"],
    },
    "cn-resident-id": {
        "en": ["Applicant ID card number {}.", "Her resident ID is {}.", "ID: {}", "Verify resident identity card {} please."],
        "de": ["Ausweisnummer (China) {}.", "Die chinesische ID lautet {}.", "Personalnummer CN {}", "Bitte prüfen: {}"],
        "zh": ["身份证号 {}", "我的身份证号码是 {}", "身份证：{}", "旧身份证 {} 已过期"],
    },
    "payment-card": {
        "en": ["Charge card {} exp 12/27.", "My Visa is {}.", "Card number: {}", "Refund to {} please."],
        "de": ["Kreditkarte {} gültig bis 09/28.", "Bitte belasten Sie {}.", "Kartennummer: {}", "Erstattung auf {}."],
        "zh": ["信用卡号 {}", "请从卡 {} 扣款", "卡号：{}", "退款到 {} 谢谢"],
    },
    "iban": {
        "en": ["Pay the invoice to IBAN {}.", "My account: {}", "Transfer to {} today.", "IBAN {} (current account)"],
        "de": ["Bitte überweisen Sie auf {}.", "IBAN: {}", "Meine Bankverbindung: {}", "Rückzahlung an {}."],
        "zh": ["汇款账户 IBAN {}", "请转账到 {}", "账户：{}", "收款 IBAN：{}"],
    },
    "us-ssn": {
        "en": ["SSN {} on the tax form.", "My social security number is {}.", "SSN: {}", "Employee SSN {} for payroll."],
        "de": ["US-Sozialversicherungsnummer {}.", "SSN des Mitarbeiters: {}", "Die SSN lautet {}.", "SSN {} für die Steuer."],
        "zh": ["美国社保号 {}", "社会安全号码：{}", "SSN {}", "员工社保号是 {}"],
    },
    "ip-address": {
        "en": ["Login from {} was blocked.", "The client address was {}.", "Source IP {}", "Requests came from {} overnight."],
        "de": ["Anmeldung von {} gesperrt.", "Die Client-Adresse war {}.", "Quell-IP {}", "Zugriffe kamen von {}."],
        "zh": ["登录来自 {} 被拦截", "客户端地址是 {}", "来源 IP：{}", "夜间请求来自 {}"],
    },
}

HEALTH = {
    "en": ["She has a diabetes check-up on Monday.", "The biopsy confirmed a tumour in the left breast.",
           "He has been on insulin since May.", "Patient diagnosed with asthma as a child.",
           "My mother has dementia and needs care.", "He started chemotherapy last week.",
           "Her blood pressure was 160/100 at the visit.", "She is pregnant with her second child.",
           "History of epilepsy, seizure-free for two years.", "He takes antidepressants daily.",
           "The claimant has a chronic illness.", "Hepatitis B vaccination record attached."],
    "de": ["Sie hat am Montag einen Termin zur Diabetesberatung.", "Er ist an Krebs erkrankt.",
           "Die Patientin ist schwanger.", "Diagnose: Bluthochdruck.", "Mein Vater hat Demenz.",
           "Nach dem Herzinfarkt war er drei Wochen im Krankenhaus.", "Sie nimmt seit Mai Insulin.",
           "Er hatte letztes Jahr einen Schlaganfall.", "Vorsorgeuntersuchung am 3. März.",
           "Seit der Chemotherapie ist sie müde.", "Er leidet an Epilepsie.", "Ihre Krankheit ist chronisch."],
    "zh": ["他患有糖尿病，每天打胰岛素。", "检查确诊为肿瘤。", "她怀孕三个月了。", "病人有高血压。",
           "我父亲有心脏病。", "上周开始化疗。", "她小时候有哮喘。", "奶奶有老年痴呆。",
           "他因中风住院。", "病历已经上传。", "医生诊断为抑郁症。", "患者有乙型肝炎。"],
}

NEGATIVES = {
    "en": ["Order #A-2024-118833 shipped on 2024-01-15 12:30:45.", "Tracking 1Z999AA10123456784 is in transit.",
           "Tracking number 9400111899223344556677.", "Build 20240115123045 passed all tests.",
           "Upgrade to version 10.2.3 or v1.2.3.4.", "ISBN 978-3-16-148410-0 is out of print.",
           "The total is $1,234.56 including tax.", "Invoice 2024-00123 is due in 30 days.",
           "Timestamp 1700000000 (Unix seconds).", "Release 1.2.3.4 fixed the login bug.",
           "The meeting is on 03/04/2025 at 10:30.", "Ticket 4711 was closed.",
           "The Great Depression lasted a decade.", "What a stroke of luck!", "Hearing aids are on sale.",
           "Please be patient with the new system.", "Room 214, building 7, floor 3.",
           "Serial number SN-8812-4471-0093.", "The server uptime is 99.95% this month.",
           "Call the function foo(1, 2, 3) twice.", "Product code 4006381333931 (EAN).",
           "Package weight 12.5 kg, 40 x 30 x 20 cm.", "The flight leaves at 07:45 from gate 12.",
           "Account balance: 12,800.00 EUR.", "Our office opens at 9:00 on weekdays.",
           "Error 0x80070005 during update.", "We shipped 1,250,000 units in 2023.",
           "The zodiac sign for July is Cancer? No, it is Leo.", "Step 3 of 12 completed.",
           "Coordinates 52.5200 N, 13.4050 E are in Berlin.", "IP policy applies to all staff.",
           "Use port 8080 on localhost.", "MAC 00:1A:2B:3C:4D:5E is listed.",
           "Lot 2024-07-118 expires 2026-07.", "The price fell from 19.99 to 14.99.",
           "Reference: PO-55120-2024.", "Chapter 12.3.4 explains it.", "Score: 98 out of 100.",
           "Page 123, line 45.", "Batch 7781-2231-99 produced.", "Version 2.0.1-beta.3 is out.",
           "The invoice number is 110105194912310.", "Sequence 1234 5678 9012 3456 is a test pattern.",
           "Ask about the recipe of the cake.", "Tickets cost 45 dollars each."],
    "de": ["Bestellnummer 0012 345678 wurde versandt.", "Sendungsnummer 00340434161094027318.",
           "Rechnung Nr. 2024-00123 vom 15.01.2024.", "Version 10.2.3 ist verfügbar.",
           "ISBN 3-16-148410-0 ist vergriffen.", "Der Preis beträgt 1.299,00 €.",
           "Der Termin ist am 03.04.2025 um 10:30 Uhr.", "Zeitstempel 20240115123045.",
           "Rezept für Apfelkuchen mit Zimt.", "Die Depression der Wirtschaft hält an? Nein, die Rezession.",
           "Kundennummer KD-55120.", "Raum 2.14 im Gebäude 7.", "Artikelnummer 4006381333931.",
           "Das Paket wiegt 12,5 kg.", "Abfahrt um 07:45 Uhr von Gleis 12.", "Kontostand: 12.800,00 EUR.",
           "Öffnungszeiten 9–17 Uhr.", "Fehlercode 0x80070005.", "Wir haben 1.250.000 Stück verkauft.",
           "Schritt 3 von 12 erledigt.", "Seite 123, Zeile 45.", "Charge 7781-2231-99.",
           "Update auf v1.2.3.4 erforderlich.", "Das Meeting ist um 14 Uhr.", "Losnummer 2024-07-118.",
           "Die Temperatur liegt bei 21,5 Grad.", "Port 8080 auf dem Server.", "Kapitel 12.3.4.",
           "Postleitzahl 10115 Berlin.", "Baujahr 1998, 120.000 km.", "Ticket 4711 geschlossen.",
           "Bestell-Nr. 110105491231002.", "Der Schlag war ein Glück.", "Hilfsmittel für den Unterricht.",
           "Bitte haben Sie Geduld.", "Die Krabben sind frisch.", "Referenz PO-55120-2024.",
           "Vertragsnummer 2024/118833.", "Die Lieferung kommt am Freitag.", "Das Spiel endete 3:1.",
           "Mehrwertsteuer 19 %.", "Zählerstand 004512 kWh.", "Build 20240115 erfolgreich.",
           "Modell X-200, Baureihe 7.", "Die Datei ist 4,2 MB groß."],
    "zh": ["订单号 2024011512345678 已发货", "快递单号 SF1234567890123", "发票号码 2024-00123",
           "版本 10.2.3 已发布", "书号 ISBN 978-7-111-12345-6", "价格 ¥12,800 元", "会议时间 2025-04-03 10:30",
           "时间戳 20240115123045", "今天天气很好", "第 3 步，共 12 步", "房间 214，7 号楼", "商品编码 6901234567892",
           "重量 12.5 公斤", "航班 07:45 从 12 号登机口出发", "余额 12,800.00 元", "错误代码 0x80070005",
           "去年卖出 1,250,000 件", "坐标 39.9042, 116.4074", "端口 8080", "第 12.3.4 节", "得分 98 分",
           "第 123 页第 45 行", "批号 7781-2231-99", "升级到 v1.2.3.4", "订单号 110105491231002",
           "编号 110105194912310021", "邮编 100000", "车牌 京A12345", "合同编号 2024/118833",
           "温度 21.5 度", "工号 A-0042", "比赛 3:1 结束", "税率 13%", "电表读数 004512",
           "文件大小 4.2 MB", "单号 12345678901234", "序列号 SN-8812-4471-0093", "会员号 88001234",
           "年份 1998 年", "手续费 0.60 元", "折扣 8.5 折", "库存 3200 件", "第 2024 届", "楼层 15 层",
           "页码 0012"],
}


def records():
    out = []
    for lang in ["en", "de", "zh"]:
        makers = {
            "email": lambda: email(lang), "phone": lambda: phone(lang), "cn-resident-id": cn_id,
            "payment-card": card, "iban": iban, "us-ssn": ssn, "ip-address": ip,
        }
        for kind, make in makers.items():
            for template in TEMPLATES[kind][lang]:
                for _ in range(2):
                    out.append({"lang": lang, "text": template.format(make()), "kinds": [kind]})
        for text in HEALTH[lang]:
            out.append({"lang": lang, "text": text, "kinds": ["health-term"]})
        # Texts holding two kinds at once.
        for _ in range(4):
            a, b = R.sample(list(makers), 2)
            t1 = R.choice(TEMPLATES[a][lang]).format(makers[a]())
            t2 = R.choice(TEMPLATES[b][lang]).format(makers[b]())
            out.append({"lang": lang, "text": f"{t1} {t2}", "kinds": sorted([a, b])})
        for text in NEGATIVES[lang]:
            out.append({"lang": lang, "text": text, "kinds": []})
    return out


def main():
    recs = records()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as f:
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(recs)} texts -> {OUT}")


if __name__ == "__main__":
    main()

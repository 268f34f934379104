"""Place names as citizens type them: real variant spellings, English and Thai, and the
places they mean.

One table for the gazetteer's own test (tests/registry/test_gazetteer.py: every one in
the top 5) and for the search route's (tests/query/test_search_places.py: every one
answers points in its place).
"""

from __future__ import annotations

PATTAYA = ("200402", "200408")  # Pattaya City: tambons Nong Prue and Na Kluea (aliases)

# (what a citizen types, the codes any of which is the intended place)
VARIANTS: list[tuple[str, tuple[str, ...]]] = [
    # Chiang Mai
    ("Chiang Mai", ("50",)),
    ("Chaing Mai", ("50",)),
    ("Chiengmai", ("50",)),
    ("Chiangmai", ("50",)),
    ("เชียงใหม่", ("50",)),
    ("เชียงไหม่", ("50",)),  # ไ for ใ
    ("เชียงใหม", ("50",)),  # tone mark missing
    ("จังหวัดเชียงใหม่", ("50",)),
    # Khon Kaen
    ("Khon Kean", ("40",)),
    ("Khonkaen", ("40",)),
    ("Kon Kaen", ("40",)),
    ("ขอนเเก่น", ("40",)),  # two sara e for sara ae
    ("ขอนแกน", ("40",)),
    # Bang Rak (Bangkok district)
    ("Bangrak", ("1004",)),
    ("Bang Rak", ("1004",)),
    ("Khet Bang Rak", ("1004",)),
    ("บางลัก", ("1004",)),  # ล for ร
    ("เขตบางรัก", ("1004",)),
    ("post office bangrak", ("1004",)),
    ("ไปรษณีย์บางลัก", ("1004",)),
    # Nakhon Ratchasima
    ("Korat", ("30",)),
    ("Khorat", ("30",)),
    ("โคราช", ("30",)),
    ("Nakorn Ratchasima", ("30",)),
    ("Nakhon Rachasima", ("30",)),
    ("Nakhon Rajasima", ("30",)),
    # Phra Nakhon Si Ayutthaya
    ("Ayutthaya", ("14",)),
    ("Ayuthaya", ("14",)),
    ("Ayudhya", ("14",)),
    ("อยุธยา", ("14",)),
    # Pattaya, a city that is no administrative area
    ("Pattaya", PATTAYA),
    ("Pattaya City", PATTAYA),
    ("พัทยา", PATTAYA),
    # Hua Hin
    ("Hua Hin", ("7707",)),
    ("Huahin", ("7707",)),
    ("Amphoe Hua Hin", ("7707",)),
    ("Hua Hin district office", ("7707",)),
    ("อำเภอหัวหิน", ("7707",)),
    ("ที่ว่าการอำเภอหัวหิน", ("7707",)),
    ("ที่ว่าการอำเภอหัวหินเปิดกี่โมง", ("7707",)),  # "when does ... open"
    # Phuket
    ("Phuket", ("83",)),
    ("Puket", ("83",)),
    ("ภูเก็ท", ("83",)),  # wrong final consonant
    ("ภูเกต", ("83",)),  # mai taikhu missing
    # Suphan Buri
    ("Suphanburi", ("72",)),
    ("Supanburi", ("72",)),
    ("Suphan Bury", ("72",)),
    ("Suphan", ("72",)),
    ("สุพันบุรี", ("72",)),  # รรณ spelt as it sounds
    # Ubon Ratchathani
    ("Ubon", ("34",)),
    ("Ubon Ratchatani", ("34",)),
    ("Oubon", ("34",)),
    ("อุบล", ("34",)),
    # Nakhon Si Thammarat
    ("Nakhon Si Thammarat", ("80",)),
    ("Nakorn Sri Thammarat", ("80",)),
    ("Nakhon Srithammarat", ("80",)),
    ("Nakhon Si Tammarat", ("80",)),
    ("Nakhon Si", ("80",)),
    ("นครศรีธรรมราด", ("80",)),
    # Chon Buri
    ("Chonburi", ("20",)),
    ("Chon Buri", ("20",)),
    ("Cholburi", ("20",)),
    ("ชนบุรี", ("20",)),
    # Udon Thani
    ("Udon Thani", ("41",)),
    ("Udorn", ("41",)),
    ("Udon Tani", ("41",)),
    ("Udorn Thani", ("41",)),
    ("อุดร", ("41",)),
    # Lop Buri
    ("Lopburi", ("16",)),
    ("Lop Buri", ("16",)),
    ("Lob Buri", ("16",)),
    ("ลบบุรี", ("16",)),
    # Bangkok
    ("Bangkok", ("10",)),
    ("Bangkock", ("10",)),
    ("Krung Thep", ("10",)),
    ("Krungthep", ("10",)),
    ("กรุงเทพ", ("10",)),
    ("กทม.", ("10",)),
    ("กรุงเทพฯ", ("10",)),
    # more of the usual variants (kh/k, ph/p, th/t, ch/j, u/oo, r/l, -thani/-tani, ae/a)
    ("Chiangrai", ("57",)),
    ("Chieng Rai", ("57",)),
    ("Songkla", ("90",)),
    ("สงคลา", ("90",)),
    ("Hatyai", ("9011",)),
    ("หาดไหญ่", ("9011",)),
    ("Koh Samui", ("8404",)),
    ("Samui", ("8404",)),
    ("Sriracha", ("2007",)),
    ("Kanjanaburi", ("71",)),
    ("Pitsanulok", ("65",)),
    ("Nontaburi", ("12",)),
    ("Sukothai", ("64",)),
    ("Petchaburi", ("76",)),
    ("Chachengsao", ("24",)),
    ("Prachuab Kirikhan", ("77",)),
    ("Suratthani", ("84",)),
    ("Surat Tani", ("84",)),
    ("Maehongson", ("58",)),
    ("Burirum", ("31",)),
    ("Roiet", ("45",)),
    ("Nongkhai", ("43",)),
    ("Sakon Nakorn", ("47",)),
    ("Yasotorn", ("35",)),
    ("Pang-nga", ("82",)),
    ("Sa Kaew", ("27",)),
    ("Chaiyapoom", ("36",)),
    ("Uttaradith", ("53",)),
    ("Prachinburi", ("25",)),
    ("ปาจีนบุรี", ("25",)),  # ร of the cluster dropped
    ("เพชรบูรน์", ("67",)),  # ณ spelt น
    ("Phetburi", ("76",)),
    ("Ayuttaya", ("14",)),
    ("Nakon Pathom", ("73",)),
    ("Samut Prakarn", ("11",)),
    ("Chantaburi", ("22",)),
    ("Maha Sarakam", ("44",)),
    ("Kampangpet", ("62",)),
    ("Nakornsawan", ("60",)),
    ("Rajburi", ("70",)),
    ("Singburi", ("17",)),
    ("Chainat", ("18",)),
    ("Angthong", ("15",)),
    ("Rayoung", ("21",)),
    ("Trad", ("23",)),
    ("Srisaket", ("33",)),
    ("Beungkan", ("38",)),
    ("Nongbualamphu", ("39",)),
    ("Loey", ("42",)),
    ("Lampoon", ("51",)),
    ("Prae", ("54",)),
    ("Payao", ("56",)),
    ("Utaitani", ("61",)),
    ("Pichit", ("66",)),
    ("Samutsakorn", ("74",)),
    ("Chumporn", ("86",)),
    ("Satoon", ("91",)),
    ("Patalung", ("93",)),
    ("Patani", ("94",)),
    ("Naratiwat", ("96",)),
    ("ราชบุลี", ("70",)),  # ล for ร
    ("สะบุรี", ("19",)),  # ร of สระ dropped
    ("ปทุมทานี", ("13",)),  # ท for ธ
    ("นนทะบุรี", ("12",)),  # a vowel too many
    ("ศรีษะเกษ", ("33",)),  # the common misspelling of ศรีสะเกษ
    ("อุบลราชทานี", ("34",)),
    ("บุรีรัม", ("31",)),  # silent ย์ dropped
    ("ร้อยเอด", ("45",)),
    ("กาลสินธุ์", ("46",)),  # ล for ฬ
    ("สุราษฏร์ธานี", ("84",)),  # ฏ for ฎ
    ("นครสวรรณ์", ("60",)),
    ("เพชรบูรี", ("76",)),  # long u for short
    ("แม่ฮองสอน", ("58",)),
    ("พิศณุโลก", ("65",)),
]

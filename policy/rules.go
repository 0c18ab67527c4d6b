package policy

import (
	"strconv"
	"strings"
)

// Verdict is what happens to a line (RULES.md: block, hold, flag).
type Verdict string

// Verdicts. The strings are those of the feed's line decisions.
const (
	Allow Verdict = "allow" // the line may go on the insurance sale
	Block Verdict = "block" // never on the insurance sale; cash may still be possible
	Hold  Verdict = "hold"  // waits for a pharmacist's override
	Flag  Verdict = "flag"  // goes through, carrying the flag to the bureau
)

// RuleID is a rule's stable id, as records, metrics, the dashboard and
// tests name it. Renaming one is a protocol change.
type RuleID string

// The rules, with the seed lines each rests on (RULES.md's seeds/).
const (
	// RuleNonDrug: daily goods, health food, cosmetics, food, tonics and
	// other non-drug goods are never paid by insurance and must be sold
	// apart (分离式管理). 000_ff44986620f61bf1.txt:13 (保健品和生活用品撤出店堂
	// 或进行分离式管理), 000_ff44986620f61bf1.txt:21, 000_ff44986620f61bf1.txt:168
	// (串换成生活用品、保健用品), 001_5780b94b1abdec55.txt:17,
	// 001_5780b94b1abdec55.txt:23, 001_5780b94b1abdec55.txt:277 (生活用品、
	// 滋补品等其他非药商品), 002_0b440fc10f5ecba8.txt:949 (美容、保健),
	// 004_e78309baa7633d7d.txt:177 and 004_e78309baa7633d7d.txt:581 (食品、
	// 保健食品、化妆品等冒充药品).
	RuleNonDrug RuleID = "non_drug"

	// RuleNotCovered: an item absent from the insurance catalogue, marked
	// not covered, or without a national code is not paid by insurance; an
	// unknown barcode is treated the same (fail closed).
	// 000_ff44986620f61bf1.txt:168 (非医疗保险基金支付范围的费用列入医疗保险基金支付),
	// 001_5780b94b1abdec55.txt:1179 (将治疗药品换成…自费药品).
	RuleNotCovered RuleID = "not_covered"

	// RuleDaysSupply: one card may not hold more than N days of the same
	// drug (acute 7, chronic 15 by default; long prescriptions up to 84).
	// 000_ff44986620f61bf1.txt:29 (一次处方量为7日量,慢性病最多为15日量),
	// 000_ff44986620f61bf1.txt:141 and 001_5780b94b1abdec55.txt:273 (急性
	// 7天, 慢性15天), 001_5780b94b1abdec55.txt:1161 (a region with 3–5 /
	// 7–10 / 10–20 days), 002_0b440fc10f5ecba8.txt:981 (慢性病不超过15天).
	// The 84-day long prescription is national practice, not in the seeds.
	RuleDaysSupply RuleID = "days_supply"
)

// severity is each rule's verdict when it fires (RULES.md table).
func (id RuleID) severity() Verdict {
	switch id {
	case RuleNonDrug, RuleNotCovered, RuleDaysSupply:
		return Block
	}
	return Block // an unlisted rule refuses: fail closed
}

// reason names one wording of a rule; a rule may have several.
type reason int

const (
	reasonNonDrug        reason = iota + 1 // category is not drug or device
	reasonUnknownBarcode                   // barcode not in the catalogue
	reasonNotCovered                       // catalogue says covered 0
	reasonNoCode                           // covered but no national code
	reasonDaysOver                         // supply on hand + this line > limit
	reasonDaysOverLine                     // this line alone > limit
)

// text is the rule catalogue: the rule each reason belongs to and its
// Chinese and English templates. Placeholders are {barcode}, {name},
// {category}, {days}, {on_hand} and {limit}. A new rule adds its reasons
// here and its severity above.
func (r reason) text() (id RuleID, zh, en string) {
	switch r {
	case reasonNonDrug:
		return RuleNonDrug,
			"非药品（{category}），不能用医保支付",
			"Not a drug ({category}): insurance cannot pay"
	case reasonUnknownBarcode:
		return RuleNotCovered,
			"条码 {barcode} 不在商品目录中，不能用医保支付",
			"Barcode {barcode} is not in the catalogue: insurance cannot pay"
	case reasonNotCovered:
		return RuleNotCovered,
			"{name} 不在医保目录内，不能用医保支付",
			"{name} is not in the insurance catalogue: insurance cannot pay"
	case reasonNoCode:
		return RuleNotCovered,
			"{name} 没有医保编码，不能用医保支付",
			"{name} has no insurance code: insurance cannot pay"
	case reasonDaysOver:
		return RuleDaysSupply,
			"已有 {on_hand} 天用量，再购 {days} 天将超过 {limit} 天上限",
			"{on_hand} days on hand + {days} new would exceed the {limit}-day limit"
	case reasonDaysOverLine:
		return RuleDaysSupply,
			"本次 {days} 天用量，超过 {limit} 天上限",
			"{days} days in this line exceed the {limit}-day limit"
	}
	return "", "", ""
}

// facts fill a reason's placeholders.
type facts struct {
	barcode, name       string
	category            Category
	days, onHand, limit int
}

// refuse returns d with the verdict, rule and reasons of r.
func refuse(d Decision, r reason, f facts) Decision {
	id, zh, en := r.text()
	czh, cen := categoryLabel(f.category)
	fill := func(tmpl, category string) string {
		return strings.NewReplacer(
			"{barcode}", f.barcode,
			"{name}", f.name,
			"{category}", category,
			"{days}", strconv.Itoa(f.days),
			"{on_hand}", strconv.Itoa(f.onHand),
			"{limit}", strconv.Itoa(f.limit),
		).Replace(tmpl)
	}
	d.Verdict = id.severity()
	d.Rule = id
	d.ReasonZH = fill(zh, czh)
	d.ReasonEN = fill(en, cen)
	return d
}

// categoryLabel names a category for the cashier, in Chinese and English.
func categoryLabel(c Category) (zh, en string) {
	switch c {
	case CategoryDrug:
		return "药品", "drug"
	case CategoryDevice:
		return "医疗器械", "medical device"
	case CategoryDailyGoods:
		return "日用品", "daily goods"
	case CategoryHealthFood:
		return "保健食品", "health food"
	case CategoryCosmetic:
		return "化妆品", "cosmetic"
	case CategoryFood:
		return "食品", "food"
	}
	return "其他", "other goods"
}

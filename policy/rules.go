package policy

import (
	"strconv"
	"strings"
)

// Verdict is what happens to a line (docs/rules.md: block, hold, flag).
type Verdict string

// Verdicts. The strings are those of the feed's line decisions.
const (
	Allow Verdict = "allow" // the line may go on the insurance sale
	Block Verdict = "block" // never on the insurance sale; cash may still be possible
	Hold  Verdict = "hold"  // waits for a pharmacist's override
	Flag  Verdict = "flag"  // goes through, carrying the flag to the bureau
)

// rank orders verdicts by severity: block > hold > flag > allow. An unknown
// verdict ranks as block: fail closed.
func (v Verdict) rank() int {
	switch v {
	case Allow:
		return 0
	case Flag:
		return 1
	case Hold:
		return 2
	}
	return 3
}

// RuleID is a rule's stable id, as records, metrics, the dashboard and
// tests name it. Renaming one is a protocol change.
type RuleID string

// The seventeen rules of docs/rules.md, in its order, with the source lines
// each rests on (<document>:<line>; docs/rules.md names each document and
// quotes the passage). The words in brackets are
// what the cited line says.
const (
	// RuleNonDrug: daily goods, health food, cosmetics, food, tonics and
	// other non-drug goods are never paid by insurance and must be sold
	// apart (分离式管理). Block; cannot be switched off.
	// 000_ff44986620f61bf1.txt:13 (保健品和生活用品撤出店堂或进行分离式管理),
	// 000_ff44986620f61bf1.txt:21 (店堂中不得经营药品以外的保健品、生活用品),
	// 000_ff44986620f61bf1.txt:168 (串换成…生活用品、保健用品),
	// 001_5780b94b1abdec55.txt:17 (经营生活用品、串换药品),
	// 001_5780b94b1abdec55.txt:23 (“暗超市”…出售生活用品),
	// 001_5780b94b1abdec55.txt:277 (生活用品、滋补品等其他非药商品),
	// 002_0b440fc10f5ecba8.txt:949 (美容、…保健…發生費用),
	// 004_e78309baa7633d7d.txt:177 and 004_e78309baa7633d7d.txt:581
	// (食品、保健食品、化妆品等冒充药品).
	RuleNonDrug RuleID = "non_drug"

	// RuleNotCovered: an item absent from the insurance catalogue, marked
	// not covered, or without a national code is not paid by insurance; an
	// unknown barcode is treated the same (fail closed). Block; cannot be
	// switched off.
	// 000_ff44986620f61bf1.txt:168 (非医疗保险基金支付范围的费用列入医疗保险基金支付),
	// 001_5780b94b1abdec55.txt:1179 (将治疗药品换成…自费药品).
	RuleNotCovered RuleID = "not_covered"

	// RuleDaysSupply: one card may not hold more than N days of the same
	// generic (acute 7, chronic 15; a long prescription up to 84). Block.
	// 000_ff44986620f61bf1.txt:29 (一次处方量为7日量,慢性病最多为15日量),
	// 000_ff44986620f61bf1.txt:141 and 001_5780b94b1abdec55.txt:273 (急性疾病…
	// 不得超过7天用量,慢性疾病不得超过15天用量), 001_5780b94b1abdec55.txt:1161
	// (a region with 急性病3-5日量,慢性病7-10日量,长期服药…10-20日量),
	// 002_0b440fc10f5ecba8.txt:981 (慢性病處方用藥量不超過15天). The 84-day
	// long prescription is national practice, not in the seeds.
	RuleDaysSupply RuleID = "days_supply"

	// RuleRxRequired: a prescription drug needs a prescription reference in
	// the same sale (处方药凭处方销售). Hold.
	// 000_ff44986620f61bf1.txt:206 (严格凭处方销售抗菌药物),
	// 004_e78309baa7633d7d.txt:177 (处方药凭处方或登记销售).
	RuleRxRequired RuleID = "rx_required"

	// RuleRxItems: at most N different drugs (generics) on one
	// prescription; default 5. Flag.
	// 002_0b440fc10f5ecba8.txt:981 (單張處方藥品不超過5種).
	RuleRxItems RuleID = "rx_items"

	// RuleSpecialControl: ephedrine-containing compound preparations and
	// other controlled classes: at most N packs per sale (ephedrine 2) and
	// the buyer's identity (the card) present. Block.
	// 000_ff44986620f61bf1.txt:206 (特殊管理药品…含麻黄碱复方制剂…的经营为重点),
	// 004_e78309baa7633d7d.txt:571 (部分含特殊药品复方制剂等品种为重点); the
	// two-pack limit is the national 2012 notice on ephedrine compounds.
	RuleSpecialControl RuleID = "special_control"

	// RuleTraceDup: a drug traceability code (one box) sells once; a repeat
	// at this till is refused unless the first sale was returned. Block.
	// 004_e78309baa7633d7d.txt:571 (推行药品电子监管,…完善质量追溯体系); the
	// national 2025 trace-code rules call a repeat a sign of 回流药.
	RuleTraceDup RuleID = "trace_dup"

	// RuleTraceMissing: an insurance drug line with fewer scanned
	// traceability codes than boxes. Flag by default; a region may raise it
	// to block (from 2025-07-01 the fund refuses unscanned drugs). National
	// 2025 trace-code rules; not in the seeds.
	RuleTraceMissing RuleID = "trace_missing"

	// RulePriceCap: unit price above the catalogue's insurance payment
	// ceiling. Block.
	// 001_5780b94b1abdec55.txt:471 (建立药品和项目的最高限价制度),
	// 001_5780b94b1abdec55.txt:1129 (收费标准要明码标价; prices are public,
	// a weaker source).
	RulePriceCap RuleID = "price_cap"

	// RuleCardExpired: the card is past its expiry date. Block.
	// 000_ff44986620f61bf1.txt:149 (认真核对…医疗保险IC卡…做到人证相符).
	RuleCardExpired RuleID = "card_expired"

	// RuleCardBlocked: the card is on the bureau's deny list (reported
	// lost, suspended, benefits stopped after arrears). Block.
	// 001_5780b94b1abdec55.txt:1037 (欠缴…三个月以上者,停止其医疗保险待遇),
	// 001_5780b94b1abdec55.txt:1107 (遗失…应及时…办理挂失),
	// 001_5780b94b1abdec55.txt:411 (盗刷医保卡).
	RuleCardBlocked RuleID = "card_blocked"

	// RuleCardBurst: many different cards at one till in a short time, a
	// shop swiping cards it keeps (留存/盗刷). More than 4 in 10 minutes by
	// default. Hold.
	// 001_5780b94b1abdec55.txt:403 (定点药店留存、盗刷、冒用社保卡),
	// 001_5780b94b1abdec55.txt:411 (盗刷医保卡、…使用医保卡套现).
	RuleCardBurst RuleID = "card_burst"

	// RuleOffHours: an insurance sale outside the registered opening hours,
	// a common sign of swiping kept cards with no customer present. Off
	// unless hours are set. Hold.
	// 001_5780b94b1abdec55.txt:403 and 001_5780b94b1abdec55.txt:411 (留存、
	// 盗刷); the hours rule itself is bureau practice, not in the seeds.
	RuleOffHours RuleID = "off_hours"

	// RuleManualEntry: a line keyed in instead of scanned; the billed item
	// must be the scanned one (串换上传). Flag.
	// 001_5780b94b1abdec55.txt:481 (串换上传是指信息系统上传的药品…与实际不符),
	// 002_0b440fc10f5ecba8.txt:215 (嚴禁調換藥物).
	RuleManualEntry RuleID = "manual_entry"

	// RuleCashRefund: an insurance-paid item refunded as cash (套现); such
	// returns go back to the fund. Block (DecideReturn).
	// 000_ff44986620f61bf1.txt:170 (帮助参保人员个人帐户套现),
	// 001_5780b94b1abdec55.txt:23 (套取现金), 001_5780b94b1abdec55.txt:277
	// (返还现金), 001_5780b94b1abdec55.txt:411 (使用医保卡套现).
	RuleCashRefund RuleID = "cash_refund"

	// RuleExpired: a box past its expiry date (the scanned GS1 AI 17,
	// Line.Expiry) is not sold; one with fewer than N days left is
	// flagged (near expiry; Limits.ExpiryNearDays, 30 by default, 0 for no
	// flag). The expiry day itself is still sellable. An unreadable date
	// blocks (fail closed); no date, no finding. Block.
	// 004_e78309baa7633d7d.txt:177 (药品养护、人员资质、效期管理进行检查),
	// 001_5780b94b1abdec55.txt:885 (近效期药品的催销记录); that a drug
	// past its expiry is substandard (劣药) and not sold is the national
	// Drug Administration Law, not in the seeds.
	RuleExpired RuleID = "expired"

	// RulePharmacistAbsent: a prescription drug (Item.Rx, as rx_required
	// reads it) while no licensed pharmacist is signed in on duty
	// (Basket.PharmacistOnDuty) is held: a pharmacist must review it. It
	// runs card or not, whatever insurance pays, as rx_required does. Hold;
	// a region may make it flag or block.
	// 000_ff44986620f61bf1.txt:206 (药品经营企业执业药师配备…药品零售企业驻店药剂员配备),
	// 001_5780b94b1abdec55.txt:95 (至少配备执业药师和医师各一名); that a
	// licensed pharmacist reviews prescriptions on duty is the national
	// GSP, not in the seeds.
	RulePharmacistAbsent RuleID = "pharmacist_absent"
)

// ruleOrder lists the rules in the order of docs/rules.md: the order of Rules(), of
// a decision's findings, and the tie-break between equally severe findings.
func ruleOrder() [17]RuleID {
	return [17]RuleID{
		RuleNonDrug, RuleNotCovered, RuleDaysSupply, RuleRxRequired, RuleRxItems,
		RuleSpecialControl, RuleTraceDup, RuleTraceMissing, RulePriceCap, RuleCardExpired,
		RuleCardBlocked, RuleCardBurst, RuleOffHours, RuleManualEntry, RuleCashRefund,
		RuleExpired, RulePharmacistAbsent,
	}
}

// RuleInfo describes a rule for dashboards, reports and the policy file.
type RuleInfo struct {
	ID       RuleID
	Severity Verdict // the default
	TitleZH  string
	TitleEN  string
	Sources  []string // seed lines (file:line) and other sources
	// Allowed lists the severities a region may set (Limits.Severity), the
	// default first. Only trace_missing (to block) and pharmacist_absent
	// (to flag or block) may change today.
	Allowed []Verdict
	// Required rules cannot be switched off (Limits.Off).
	Required bool
}

// Rules returns every rule in the order of docs/rules.md. The slice is new on every
// call; callers may keep or change it.
func Rules() []RuleInfo {
	order := ruleOrder()
	out := make([]RuleInfo, 0, len(order))
	for _, id := range order {
		info, _ := id.Info()
		out = append(out, info)
	}
	return out
}

// Info returns the rule's description; false for an unknown id.
func (id RuleID) Info() (RuleInfo, bool) {
	const (
		s000 = "000_ff44986620f61bf1.txt:"
		s001 = "001_5780b94b1abdec55.txt:"
		s002 = "002_0b440fc10f5ecba8.txt:"
		s004 = "004_e78309baa7633d7d.txt:"
	)
	r := RuleInfo{ID: id, Severity: id.severity(), Required: id.required()}
	r.Allowed = []Verdict{r.Severity}
	switch id {
	case RuleNonDrug:
		r.TitleZH, r.TitleEN = "非药品不得医保支付", "Non-drug goods on insurance"
		r.Sources = []string{s000 + "13", s000 + "21", s000 + "168", s001 + "17", s001 + "23", s001 + "277", s002 + "949", s004 + "177", s004 + "581"}
	case RuleNotCovered:
		r.TitleZH, r.TitleEN = "目录外商品", "Not in the insurance catalogue"
		r.Sources = []string{s000 + "168", s001 + "1179"}
	case RuleDaysSupply:
		r.TitleZH, r.TitleEN = "超量开药", "Days of supply over the limit"
		r.Sources = []string{s000 + "29", s000 + "141", s001 + "273", s001 + "1161", s002 + "981"}
	case RuleRxRequired:
		r.TitleZH, r.TitleEN = "处方药无处方", "Prescription drug without a prescription"
		r.Sources = []string{s000 + "206", s004 + "177"}
	case RuleRxItems:
		r.TitleZH, r.TitleEN = "单张处方药品种数超限", "Too many drugs on one prescription"
		r.Sources = []string{s002 + "981"}
	case RuleSpecialControl:
		r.TitleZH, r.TitleEN = "特殊管理药品限购", "Controlled preparation limits"
		r.Sources = []string{s000 + "206", s004 + "571", "national 2012 notice on ephedrine compound preparations"}
	case RuleTraceDup:
		r.TitleZH, r.TitleEN = "追溯码重复销售", "Traceability code sold twice"
		r.Sources = []string{s004 + "571", "national 2025 drug traceability code rules"}
	case RuleTraceMissing:
		r.TitleZH, r.TitleEN = "未扫追溯码", "Traceability code not scanned"
		r.Sources = []string{"national 2025 drug traceability code rules"}
		r.Allowed = []Verdict{Flag, Block}
	case RulePriceCap:
		r.TitleZH, r.TitleEN = "超医保支付限价", "Price above the insurance ceiling"
		r.Sources = []string{s001 + "471", s001 + "1129"}
	case RuleCardExpired:
		r.TitleZH, r.TitleEN = "社保卡过期", "Card expired"
		r.Sources = []string{s000 + "149"}
	case RuleCardBlocked:
		r.TitleZH, r.TitleEN = "社保卡禁用", "Card on the deny list"
		r.Sources = []string{s001 + "1037", s001 + "1107", s001 + "411"}
	case RuleCardBurst:
		r.TitleZH, r.TitleEN = "短时多卡刷卡", "Many cards in a short time"
		r.Sources = []string{s001 + "403", s001 + "411"}
	case RuleOffHours:
		r.TitleZH, r.TitleEN = "非营业时间刷卡", "Sale outside opening hours"
		r.Sources = []string{s001 + "403", s001 + "411", "bureau practice"}
	case RuleManualEntry:
		r.TitleZH, r.TitleEN = "手工录入", "Keyed in, not scanned"
		r.Sources = []string{s001 + "481", s002 + "215"}
	case RuleCashRefund:
		r.TitleZH, r.TitleEN = "医保商品退现金", "Insurance item refunded as cash"
		r.Sources = []string{s000 + "170", s001 + "23", s001 + "277", s001 + "411"}
	case RuleExpired:
		r.TitleZH, r.TitleEN = "药品过期或临近有效期", "Past or near its expiry date"
		r.Sources = []string{s004 + "177", s001 + "885", "national Drug Administration Law (a drug past its expiry is 劣药)"}
	case RulePharmacistAbsent:
		r.TitleZH, r.TitleEN = "执业药师不在岗", "No licensed pharmacist on duty"
		r.Sources = []string{s000 + "206", s001 + "95", "national GSP (a licensed pharmacist on duty reviews prescriptions)"}
		r.Allowed = []Verdict{Hold, Flag, Block}
	default:
		return RuleInfo{}, false
	}
	return r, true
}

// severity is the rule's default verdict (docs/rules.md's table). An unknown rule
// blocks: fail closed. expired's near-expiry finding is a flag whatever
// this says (reason.verdict).
func (id RuleID) severity() Verdict {
	switch id {
	case RuleRxRequired, RuleCardBurst, RuleOffHours, RulePharmacistAbsent:
		return Hold
	case RuleRxItems, RuleTraceMissing, RuleManualEntry:
		return Flag
	}
	return Block
}

// allows reports whether a region may set v as the rule's severity.
func (id RuleID) allows(v Verdict) bool {
	if v == id.severity() {
		return id.known()
	}
	switch id {
	case RuleTraceMissing:
		return v == Block
	case RulePharmacistAbsent:
		return v == Flag || v == Block
	}
	return false
}

// required reports whether the rule cannot be switched off.
func (id RuleID) required() bool { return id == RuleNonDrug || id == RuleNotCovered }

func (id RuleID) known() bool {
	for _, r := range ruleOrder() {
		if r == id {
			return true
		}
	}
	return false
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
	reasonRxMissing                        // prescription drug, no prescription in the sale
	reasonRxItems                          // too many drugs on the prescription
	reasonControlNoCard                    // controlled class without the buyer's identity
	reasonControlOver                      // controlled class over the packs per sale
	reasonTraceSold                        // code already sold and not returned
	reasonTraceTwice                       // code scanned twice in this sale
	reasonTraceNone                        // no valid code for the line
	reasonTraceShort                       // fewer valid codes than boxes
	reasonPriceCap                         // price above the ceiling
	reasonCardExpired                      // card past its expiry date
	reasonCardExpiryBad                    // expiry date unreadable
	reasonCardBlocked                      // card on the deny list
	reasonCardBurst                        // too many cards at this till
	reasonOffHours                         // outside the opening hours
	reasonHoursBad                         // opening hours unreadable
	reasonManualEntry                      // keyed in
	reasonCashRefund                       // insurance line refunded as cash
	reasonExpired                          // box past its expiry date
	reasonExpiryNear                       // box within the near-expiry window
	reasonExpiryBad                        // box's expiry date unreadable
	reasonNoPharmacist                     // prescription drug, no pharmacist signed in
	numReasons
)

// text is the reason catalogue: the rule each reason belongs to and its
// Chinese and English templates. Placeholders ({days}, {limit}, …) are
// filled from facts; the Chinese is what a cashier reads at a glance.
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
	case reasonRxMissing:
		return RuleRxRequired,
			"{name} 是处方药，本单未登记处方，需药师审核",
			"{name} is a prescription drug and this sale has no prescription: a pharmacist must review"
	case reasonRxItems:
		return RuleRxItems,
			"本处方已有 {n} 种药品，超过每张处方 {max} 种上限",
			"{n} different drugs on this prescription exceed the limit of {max}"
	case reasonControlNoCard:
		return RuleSpecialControl,
			"{class}须登记购买人身份，请先读社保卡",
			"{class}: the buyer's identity is required; read the card first"
	case reasonControlOver:
		return RuleSpecialControl,
			"{class}每次限购 {max} 盒，本单已 {n} 盒，再购 {qty} 盒将超限",
			"{class}: at most {max} packs per sale; {n} already in this sale + {qty} would exceed it"
	case reasonTraceSold:
		return RuleTraceDup,
			"追溯码 {code} 已售出且未退货，同一盒药不能再卖（疑似回流药）",
			"Traceability code {code} was already sold and not returned: one box sells once (possibly resold)"
	case reasonTraceTwice:
		return RuleTraceDup,
			"追溯码 {code} 在本单中重复扫描",
			"Traceability code {code} is scanned twice in this sale"
	case reasonTraceNone:
		return RuleTraceMissing,
			"{qty} 盒未扫药品追溯码",
			"No traceability code scanned for {qty} pack(s)"
	case reasonTraceShort:
		return RuleTraceMissing,
			"{qty} 盒只扫了 {n} 个本品追溯码",
			"{qty} pack(s) but only {n} traceability code(s) of this product scanned"
	case reasonPriceCap:
		return RulePriceCap,
			"单价 {price} 元高于医保支付上限 {cap} 元",
			"Unit price ¥{price} is above the insurance ceiling of ¥{cap}"
	case reasonCardExpired:
		return RuleCardExpired,
			"社保卡已于 {expires} 过期",
			"The card expired on {expires}"
	case reasonCardExpiryBad:
		return RuleCardExpired,
			"社保卡有效期 {expires} 无法识别",
			"The card's expiry date {expires} cannot be read"
	case reasonCardBlocked:
		return RuleCardBlocked,
			"此卡在医保禁用名单中（挂失、暂停或停保），不能用医保支付",
			"This card is on the bureau's deny list (lost, suspended or benefits stopped): insurance cannot pay"
	case reasonCardBurst:
		return RuleCardBurst,
			"{window}内本收银台已刷 {n} 张不同的卡（上限 {max} 张），需药师核实",
			"{n} different cards at this till within {window} (limit {max}): a pharmacist must check"
	case reasonOffHours:
		return RuleOffHours,
			"{time} 不在登记的营业时间 {open}–{close} 内，需药师核实",
			"{time} is outside the registered opening hours {open}–{close}: a pharmacist must check"
	case reasonHoursBad:
		return RuleOffHours,
			"营业时间设置无效（{open}–{close}），需药师核实",
			"The opening hours are not valid ({open}–{close}): a pharmacist must check"
	case reasonManualEntry:
		return RuleManualEntry,
			"手工录入，未扫码核对实物",
			"Keyed in, not scanned: the billed item is not checked against the box"
	case reasonCashRefund:
		return RuleCashRefund,
			"医保支付的商品退货须退回医保基金，不能退现金",
			"An insurance-paid item is refunded to the fund, never as cash"
	case reasonExpired:
		return RuleExpired,
			"药品已过有效期（{expiry}），不得销售",
			"Past its expiry date ({expiry}): not for sale"
	case reasonExpiryNear:
		return RuleExpired,
			"药品临近有效期（{expiry}，还剩 {days} 天）",
			"Near its expiry ({expiry}, {days} days left)"
	case reasonExpiryBad:
		return RuleExpired,
			"药品有效期 {expiry} 无法识别，请核对药盒",
			"The box's expiry date {expiry} cannot be read: check the box"
	case reasonNoPharmacist:
		return RulePharmacistAbsent,
			"处方药须执业药师在岗审核：当前无药师签到",
			"A prescription drug needs a licensed pharmacist on duty: nobody is signed in"
	}
	return "", "", ""
}

// facts fill a reason's placeholders: pairs of "{key}", value, one list per
// language (most values are the same in both).
type facts struct{ zh, en []string }

func (f *facts) set(key, v string) { f.setLang(key, v, v) }

func (f *facts) setInt(key string, v int) { f.set(key, strconv.Itoa(v)) }

func (f *facts) setLang(key, zh, en string) {
	k := "{" + key + "}"
	f.zh = append(f.zh, k, zh)
	f.en = append(f.en, k, en)
}

// finding returns r as a finding with its severity under lim.
func (r reason) finding(f facts, lim *Limits) Finding {
	id, zh, en := r.text()
	return Finding{
		Rule:     id,
		Verdict:  r.verdict(id, lim),
		ReasonZH: strings.NewReplacer(f.zh...).Replace(zh),
		ReasonEN: strings.NewReplacer(f.en...).Replace(en),
	}
}

// verdict is the severity of a finding of r: its rule's under lim, but a
// near-expiry box is only flagged (docs/rules.md, expired): it may still
// be sold.
func (r reason) verdict(id RuleID, lim *Limits) Verdict {
	if r == reasonExpiryNear {
		return Flag
	}
	return lim.verdict(id)
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

// controlLabel names a controlled class for the cashier.
func controlLabel(class string) (zh, en string) {
	if class == "ephedrine" {
		return "含麻黄碱类复方制剂", "Ephedrine compound preparations"
	}
	return "特殊管理药品（" + class + "）", "Controlled class " + class
}

// yuan formats fen as yuan with two decimals: 3650 → "36.50".
func yuan(fen int64) string {
	neg := fen < 0
	if neg {
		fen = -fen
	}
	s := strconv.FormatInt(fen/100, 10) + "." + strconv.FormatInt(100+fen%100, 10)[1:]
	if neg {
		return "-" + s
	}
	return s
}

package feed

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// fullRecord has every field set, as a till might write it.
func fullRecord() *Record {
	return &Record{
		Seq: 42, ID: "019ab3c2-0f4e-7d21-8c3b-5a6f7e8d9c0b", Prev: strings.Repeat("ab", 32),
		Pharmacy: "H33010000001", Till: "T1", Kind: KindSale, At: "2026-11-23T14:00:00.123+08:00",
		Card:    &Card{Type: CardSSC, No: "330100********1234", Region: "330100", Name: "张*"},
		Cashier: "c01", Pharmacist: "p02", Reason: "复核", Ref: "019ab3c2-0000-7000-8000-000000000000",
		Lines: []Line{
			{Barcode: "6901234567892", MedListCodg: "XA01ABC123B001010100001", Name: "阿莫西林胶囊", Qty: 2, Days: 7,
				PriceFen: 1850, DrugTracCodg: []string{"81234567890123456789", "81234567890123456790"}, RxFlag: true,
				RxRef: "RX-1", Manual: true, Decision: Allow, Rule: "days_supply", ReasonZH: "超量", ReasonEN: "over",
				Flags: []string{"trace_dup"}, Overridden: true, DaysLimit: 30, Pay: "insurance",
				FixmedinsHilistID: "YP-0001", FixmedinsHilistName: "阿莫西林胶囊（店内）", FixmedinsBchno: "0" + strings.Repeat("A", 24) + "1",
				ManuLotnum: "L2405", ManuDate: "2025-05-01", ExpyEnd: "2027-04-30", TrdnFlag: true, PrscDrName: "赵医生"},
			{Barcode: "6900000001234", Name: "维生素C片", Qty: -1, PriceFen: -990, Decision: Allow, Pay: "cash"},
		},
		Payment:    &Payment{Method: "split", InsuranceFen: 3700, CashFen: 990},
		Device:     &Device{Name: "scanner", State: "connected"},
		Settlement: &Settlement{MdtrtSn: "MD1", SetlID: "S1", PsnNo: "P1", HiFeesetlType: "1", MdtrtSetlType: SetlPlatform, PsnCertType: "01"},
		PharName:   "钱药师", PharPracCertNo: "ZY330100001",
	}
}

func TestDecodeRecord_asJSONUnmarshal(t *testing.T) {
	full, err := json.Marshal(fullRecord())
	if err != nil {
		t.Fatal(err)
	}
	sparse, _ := json.Marshal(&Record{Seq: 1, Pharmacy: "P", Till: "T"})
	tests := []struct {
		name string
		rec  string
		fast bool // taken by decodeRecord, not left to json.Unmarshal
	}{
		{"every field", string(full), true},
		{"few fields", string(sparse), true},
		{"keys in another order", `{"till":"T","seq":3,"pharmacy":"P"}`, true},
		{"empty arrays", `{"seq":1,"lines":[{"drug_trac_codg":[],"flags":[]}]}`, true},
		{"empty objects", `{"seq":1,"card":{},"payment":{},"device":{},"settlement":{},"lines":[{}]}`, true},
		{"unknown settlement key", `{"seq":1,"settlement":{"mdtrt_sn":"a","x":1}}`, false},
		{"empty", `{}`, true},
		{"negative zero", `{"seq":1,"lines":[{"qty":-0}]}`, true},
		{"escaped string", `{"seq":1,"reason":"a\"b"}`, false},
		{"html escaped", `{"seq":1,"reason":"\u003c"}`, false},
		{"key in other case", `{"SEQ":1}`, false},
		{"unknown key", `{"seq":1,"extra":true}`, false},
		{"duplicate key", `{"seq":1,"seq":2}`, false},
		{"duplicate card", `{"card":{"no":"a"},"card":{"type":"03"}}`, false},
		{"null", `{"seq":1,"card":null}`, false},
		{"whitespace", `{"seq": 1}`, false},
		{"trailing", `{"seq":1} `, false},
		{"float", `{"seq":1,"lines":[{"qty":1.0}]}`, false},
		{"exponent", `{"seq":1e2}`, false},
		{"leading zero", `{"seq":01}`, false},
		{"negative seq", `{"seq":-1}`, false},
		{"19 digits", `{"seq":1234567890123456789}`, false},
		{"string for number", `{"seq":"1"}`, false},
		{"invalid utf-8", "{\"seq\":1,\"reason\":\"\xff\"}", false},
		{"control character", "{\"seq\":1,\"reason\":\"a\tb\"}", false},
		{"bad bool", `{"lines":[{"rx_flag":tru}]}`, false},
		{"unterminated", `{"seq":1,"reason":"abc`, false},
		{"not an object", `[1]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fast, slow Record
			if got := decodeRecord([]byte(tt.rec), &fast); got != tt.fast {
				t.Fatalf("decodeRecord = %v, want %v", got, tt.fast)
			}
			if !tt.fast {
				if !reflect.DeepEqual(fast, Record{}) {
					t.Fatalf("decodeRecord refused but wrote %+v", fast)
				}
				return
			}
			if err := json.Unmarshal([]byte(tt.rec), &slow); err != nil {
				t.Fatalf("json.Unmarshal refuses what decodeRecord took: %v", err)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("decodeRecord = %+v\njson.Unmarshal = %+v", fast, slow)
			}
		})
	}
}

// The key lists name every field of the structs, in order: a field added
// to a struct and not here would send every record carrying it down the
// slow path.
func TestDecodeRecord_keysAreTheFields(t *testing.T) {
	for _, c := range []struct {
		v    any
		keys []string
	}{
		{Record{}, recordKeys}, {Card{}, cardKeys}, {Line{}, lineKeys}, {Payment{}, paymentKeys}, {Device{}, deviceKeys},
		{Settlement{}, settlementKeys},
	} {
		typ := reflect.TypeOf(c.v)
		var names []string
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			names = append(names, name)
		}
		if !reflect.DeepEqual(names, c.keys) {
			t.Errorf("%s: fields %q, decode.go's keys %q", typ.Name(), names, c.keys)
		}
	}
}

// FuzzDecodeRecord: what decodeRecord takes, json.Unmarshal takes too and
// decodes to the same record; it never panics.
func FuzzDecodeRecord(f *testing.F) {
	full, _ := json.Marshal(fullRecord())
	f.Add(full)
	f.Add([]byte(`{"seq":1,"lines":[{"qty":-0,"drug_trac_codg":[]}],"card":{}}`))
	f.Add([]byte(`{"seq":1,"seq":2}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		var fast, slow Record
		if !decodeRecord(rec, &fast) {
			return
		}
		if err := json.Unmarshal(rec, &slow); err != nil {
			t.Fatalf("decodeRecord took %q, json.Unmarshal refuses it: %v", rec, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: decodeRecord = %+v, json.Unmarshal = %+v", rec, fast, slow)
		}
	})
}

// BenchmarkOpen is one tx payload opened, by decodeRecord and by
// json.Unmarshal.
func BenchmarkOpen(b *testing.B) {
	r := fullRecord()
	r.Lines[0].DrugTracCodg, r.Lines[0].Flags, r.Device, r.Reason, r.Ref = nil, nil, nil, "", ""
	rec, _ := json.Marshal(r)
	p, _ := Seal(rec, make([]byte, 64))
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, _, _, err := Open(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		for b.Loop() {
			var r Record
			if err := json.Unmarshal(rec, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package policy

// Category is what kind of goods an item is (docs/rules.md, Catalogue).
type Category string

// Categories. Only drugs and devices can be paid by insurance; everything
// else is non_drug.
const (
	CategoryDrug       Category = "drug"
	CategoryDevice     Category = "device"
	CategoryDailyGoods Category = "daily_goods"
	CategoryHealthFood Category = "health_food"
	CategoryCosmetic   Category = "cosmetic"
	CategoryFood       Category = "food"
	CategoryOther      Category = "other"
)

// valid reports whether c is one of the seven categories.
func (c Category) valid() bool {
	switch c {
	case CategoryDrug, CategoryDevice, CategoryDailyGoods, CategoryHealthFood,
		CategoryCosmetic, CategoryFood, CategoryOther:
		return true
	}
	return false
}

// nonDrug reports whether insurance may never pay for c. An unknown
// category counts as non-drug: fail closed.
func (c Category) nonDrug() bool { return c != CategoryDrug && c != CategoryDevice }

// Course selects which days-supply limit applies to an item.
type Course string

// Courses.
const (
	CourseAcute   Course = "acute"
	CourseChronic Course = "chronic"
)

// GenericLen is how many leading characters of the 23-character national
// insurance code name the drug class and generic name: two codes that share
// them are the same drug for the days-supply rule, whatever the brand or
// pack size.
const GenericLen = 10

// MedListCodgLen is the length of a national insurance code (med_list_codg)
// of a drug.
const MedListCodgLen = 23

// ConsumableCodgLen is the length of the national code of an insured
// medical consumable (医保医用耗材编码): "C", six digits of classification,
// three of the generic name, then the product's features and maker. Its
// first GenericLen characters name the generic consumable, as a drug
// code's name the generic drug.
const ConsumableCodgLen = 27

// Item is one catalogue row.
type Item struct {
	Barcode     string // EAN-13 or EAN-8 of the retail pack
	TracePrefix string // 7 digits that start its 20-digit traceability codes; "" if none
	MedListCodg string // national insurance code: 23 characters, 27 ("C…") for a consumable; "" for non-drugs
	Name        string
	Category    Category
	Covered     bool // in the insurance catalogue
	Rx          bool // prescription drug
	Control     string
	Course      Course
	PackUnits   int   // smallest units in one retail pack
	DailyUnits  int   // maximum daily dose in smallest units
	PriceFen    int64 // retail price of one pack
	PriceCapFen int64 // insurance payment ceiling per pack; 0 = none
}

// Generic returns the first GenericLen characters of the insurance code:
// the "same drug" key of the days-supply rule. A shorter code is returned
// whole.
func (it Item) Generic() string {
	n := 0
	for i := range it.MedListCodg {
		if n == GenericLen {
			return it.MedListCodg[:i]
		}
		n++
	}
	return it.MedListCodg
}

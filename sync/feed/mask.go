package feed

import "strings"

// How names, card numbers and citizen ids are shown wherever a person reads
// them (README, "Trust": privacy): the till's screen, the dashboard, the bureau's console
// and alarms, logs.

// MaskName keeps the family name: 王小明 → 王**.
func MaskName(name string) string {
	r := []rune(name)
	if len(r) == 0 {
		return ""
	}
	return string(r[0]) + strings.Repeat("*", len(r)-1)
}

// MaskCardNo keeps the first five characters: A12345678 → A1234****.
func MaskCardNo(no string) string { return maskKeep(no, 5, 0) }

// MaskID keeps the region prefix and the last four digits of a citizen ID:
// 3301**********1234.
func MaskID(id string) string { return maskKeep(id, 4, 4) }

func maskKeep(s string, head, tail int) string {
	r := []rune(s)
	if len(r) <= head+tail {
		return strings.Repeat("*", len(r))
	}
	return string(r[:head]) + strings.Repeat("*", len(r)-head-tail) + string(r[len(r)-tail:])
}

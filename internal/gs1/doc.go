// Package gs1 holds the GS1 arithmetic that both the scanner driver and
// the catalogue need: the mod-10 check digit of EAN-8, EAN-13 and GTIN-14.
// It is pure and imports nothing, so every layer may use it.
package gs1

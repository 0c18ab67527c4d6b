package gs1

// CheckDigit returns the check digit ('0'…'9') for the digits before it,
// weighted 3, 1, 3… from the right (GS1 General Specifications §7.9.1).
// body must hold only ASCII digits.
func CheckDigit(body string) byte {
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

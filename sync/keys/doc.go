// Package keys manages the till's Ed25519 signing key and the bureau's
// directory of enrolled till public keys (README, "Trust").
//
// The till key lives in <data-dir>/till.key as a PEM block of type
// "PRIVATE KEY" holding the PKCS#8 encoding of the Ed25519 key (what
// `openssl genpkey -algorithm ed25519` writes, and `openssl pkey -pubout`
// reads). It is created with mode 0600 on first start; a key file that
// group or others can read is refused, since anyone who read it could sign
// records as this till. Rotate keeps the old key as till.key.<unix-time>.
//
// The enrolment directory holds one file per till, <pharmacy>.<till>.pub,
// containing the till's public key in standard base64 and a newline — the
// line `tillguard keys show` prints.
//
// The bureau's policy-signing key (CreateKeyFile, LoadKeyFile) has the
// till key's format and the same 0600 rule; tills take its public half as
// base64 or a file holding it (PublicFromArg).
package keys

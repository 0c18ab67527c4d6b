// Package sigbatch verifies many Ed25519 signatures at once: the bureau's
// main cost is checking the signature of every record a till sends.
//
// One multi-scalar multiplication checks a whole batch (the random linear
// combination of Bernstein et al., "High-speed high-security signatures",
// 2011, §5), and signatures under the same key share that key's term, so a
// till's backlog costs under a third of crypto/ed25519.Verify per
// signature (BenchmarkVerify). When a batch fails, each signature is
// checked on its own to say which.
//
// The equation is RFC 8032 §5.1.7's, cofactored: [8][s]B = [8]R + [8][k]A,
// with s and R canonically encoded as that RFC and crypto/ed25519 both
// require. crypto/ed25519 checks the stricter cofactorless [s]B = R + [k]A,
// which the RFC also permits; the two differ only for a signature whose R
// has a small-order component added, which nobody can make without the
// private key, so a signature valid here still proves the key's holder
// signed. Single checks use the same equation, so whether a signature is
// valid never depends on the batch it arrived in.
package sigbatch

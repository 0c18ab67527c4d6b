// Package bundle is the policy downlink's wire format (docs/feed.md): a
// retained message per region on tillguard/v1/policy/{region} carrying the
// catalogue and the policy file the bureau wants in force, signed with the
// bureau's Ed25519 key.
//
//	{"bundle":{"region":"330100","version":7,"issued_at":"…",
//	           "catalog_csv":"barcode,…","policy_json":"{…}"},
//	 "sig":"<base64>"}
//
// The signature covers SigContext followed by the exact bytes of the
// "bundle" value, as they travel; receivers never re-encode a bundle to
// verify it. The context string keeps a bureau signature over a bundle
// from ever passing for one over anything else.
//
// A till accepts a bundle only if the signature verifies with the bureau
// key it was enrolled with, the region is its own and the version is
// higher than the one in force (Verify); anything else is refused and the
// current policy kept. Save and Load keep the last accepted bundle in the
// till's data dir so it applies offline after a restart.
//
// The package does no policy work itself: it carries catalog_csv and
// policy_json as bytes for policy.LoadCatalog and policy.LoadPolicy.
package bundle

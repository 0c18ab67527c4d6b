// Package console serves the bureau's HTTP interface (README, "The bureau's console and JSON API"): the
// JSON API that exports what the tills sent, exactly as they signed it, and
// the analyst's console page (医保局 分析台 / Bureau console), both read
// from an archive.Store, whichever store it is.
//
//	GET /healthz         "ok", to anyone, without a credential
//	GET /api/tills       ?pharmacy= &behind=1 &after=<pharmacy>/<till> &limit=
//	                     [{"pharmacy","till","contiguous","count","waiting","last_seen","behind","status","key","key_at","announced"}]
//	                     (key: the enrolled public key in base64, null for a till not enrolled)
//	GET /api/records     ?pharmacy= &till= (both required) &from_seq= &limit=
//	                     JSON lines {"rec":<the bytes the till signed>,"sig":"<base64>"}
//	GET /api/alarms      ?kind= &pharmacy= &till= &since=<RFC 3339 or date> &after_id= &limit=
//	                     [archive.Alarm], oldest first
//	GET /api/blocked     ?from= &to= (YYYY-MM-DD, both days included, or RFC 3339; default the last 30 days)
//	                     {"from","to","counts":[{"pharmacy","rule","count"}]}
//	GET /api/search      ?card= or ?trace= (exactly one) &limit=
//	                     [archive.LineHit], newest first, card numbers masked
//	GET /api/receiver    the receiving process's own counters (Opts.Receiver), or null
//	GET /                the console page; POST / takes the search form, so that a
//	                     card number stays out of URLs, history and proxy logs
//	GET /static/console.css
//
// Listings take limit (1 … archive.MaxLimit, larger is cut to it, default
// archive.DefaultLimit). /api/tills and /api/alarms answer a full page with
// a `Link: <…>; rel="next"` header to the next one; /api/records streams,
// and its reader pages with from_seq one past the last seq it got. The API
// serves records as signed, names and card numbers included: it is for
// machines holding the credential. The page masks names and card numbers (feed.MaskName,
// feed.MaskCardNo) and needs no JavaScript.
//
// Every error is {"error":"<code>","message_zh":"…","message_en":"…"}:
//
//	400 bad_pharmacy bad_till bad_after bad_behind bad_limit bad_from_seq
//	    bad_kind bad_since bad_after_id bad_from bad_to bad_period
//	    bad_card bad_trace bad_search (neither or both of card and trace)
//	    bad_form (a search form that does not parse)
//	401 unauthorized        no credential, or a wrong one (with WWW-Authenticate)
//	403 loopback_only       no password is configured and the client is not this machine
//	404 not_found           no such page
//	404 no_receiver         no receiver is wired in
//	405 method_not_allowed  (with Allow)
//	429 locked_out          too many wrong passwords from this address (with Retry-After)
//	500 store_unavailable   the store failed
//	500 auth_misconfigured  Opts.Password is not a bcrypt hash: nothing but /healthz is served
//	500 internal_error      the page or the receiver's counters could not be written
//
// Access: with Opts.Password (a bcrypt hash, HashPassword) every path but
// /healthz asks for it over HTTP basic auth, from loopback clients too,
// since a reverse proxy on this machine would otherwise open everything;
// the user name is not checked. Without one, only clients on this machine
// (127.0.0.0/8, ::1) are served. Wrong passwords are counted per client
// address (internal/password.Guard): after a few, a short lockout.
package console

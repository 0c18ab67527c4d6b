package brokertest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// WithProductionConfig starts mosquitto from the production configuration
// in testdata/mosquitto (TLS only, client certificates, per-till ACL) with
// pki's certificates. Only what must differ on a test machine is replaced:
// the listener's port and address, certificate, ACL and persistence paths,
// and the log destination. aclLines are appended to the ACL file, e.g. the
// per-till region blocks of TillRegionACL. The broker's URL is then
// ssl://127.0.0.1:PORT, and clients need pki.ClientTLS. The broker takes
// each client's id from its certificate (use_username_as_clientid), so two
// connections with certificates of one CN close each other, whatever
// client ids they send.
func WithProductionConfig(pki *PKI, aclLines ...string) Option {
	return func(c *config) {
		c.prod = pki
		c.acl = append(c.acl, aclLines...)
	}
}

// TillRegionACL returns the ACL block that lets till pharmacy/till read its
// region's policy bundle (testdata/mosquitto/acl explains why it is per till).
func TillRegionACL(pharmacy, till, region string) []string {
	return []string{"user " + pharmacy + "/" + till, "topic read tillguard/v1/policy/" + region}
}

// ProductionConfigDir is testdata/mosquitto at the module's root.
func ProductionConfigDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "mosquitto")
}

// writeProductionConfig rewrites the production files for this test.
func (b *Broker) writeProductionConfig(c config) error {
	src := ProductionConfigDir()
	acl, err := os.ReadFile(filepath.Join(src, "acl"))
	if err != nil {
		return fmt.Errorf("read production ACL: %w", err)
	}
	acl = append(acl, []byte("\n"+strings.Join(c.acl, "\n")+"\n")...)
	aclPath := filepath.Join(b.dir, "acl")
	if err := os.WriteFile(aclPath, acl, 0o644); err != nil {
		return err
	}
	conf, err := os.ReadFile(filepath.Join(src, "mosquitto.conf"))
	if err != nil {
		return fmt.Errorf("read production config: %w", err)
	}
	replace := map[string]string{
		"listener":             strconv.Itoa(b.port) + " 127.0.0.1",
		"cafile":               c.prod.CAFile,
		"certfile":             c.prod.ServerCert,
		"keyfile":              c.prod.ServerKey,
		"acl_file":             aclPath,
		"persistence_location": b.dir + "/",
		"log_dest":             "stderr",
		"persistence":          strconv.FormatBool(c.persistence),
	}
	seen := map[string]bool{}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		line := sc.Text()
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if v, ok := replace[name]; ok && !strings.HasPrefix(name, "#") {
			line = name + " " + v
			seen[name] = true
		}
		out.WriteString(line + "\n")
	}
	for _, name := range []string{"listener", "cafile", "certfile", "keyfile", "acl_file", "require_certificate", "use_identity_as_username"} {
		if !seen[name] && replace[name] != "" {
			return fmt.Errorf("production config has no %s line", name)
		}
	}
	for _, want := range []string{"require_certificate true", "use_identity_as_username true", "use_username_as_clientid true"} {
		if !bytes.Contains(conf, []byte("\n"+want+"\n")) {
			return fmt.Errorf("production config does not require certificates as identities: no %q", want)
		}
	}
	if os.Geteuid() == 0 {
		out.WriteString("user root\n") // see writeConfig
	}
	for _, l := range c.extra {
		out.WriteString(l + "\n")
	}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	return os.WriteFile(b.conf, out.Bytes(), 0o600)
}

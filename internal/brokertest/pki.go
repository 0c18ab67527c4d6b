package brokertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// PKI is a throwaway certificate authority for one test: a CA, a server
// certificate for 127.0.0.1 and client certificates on demand, as PEM files
// in a temporary directory.
type PKI struct {
	Dir        string // where the PEM files are
	CAFile     string
	ServerCert string
	ServerKey  string

	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey

	mu     sync.Mutex
	serial int64
}

// NewPKI creates a CA and a server certificate for 127.0.0.1.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{Dir: t.TempDir()}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tillguard test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("brokertest: create CA: %v", err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatalf("brokertest: parse CA: %v", err)
	}
	p.caKey, p.serial = key, 1
	p.CAFile = filepath.Join(p.Dir, "ca.crt")
	writePEM(t, p.CAFile, "CERTIFICATE", der)
	p.ServerCert, p.ServerKey = p.issue(t, "server", "127.0.0.1", x509.ExtKeyUsageServerAuth)
	return p
}

// Client issues a client certificate with Common Name cn and returns its
// files. The production ACL (testdata/mosquitto/acl) knows
// "{pharmacy}/{till}" for a till, "bureau-1" and "bureau-2" for the
// bureau's receivers, "bureau-policy" for publishing policy bundles and
// "bureau" for a lone bureau; the CN is also the client's id there.
func (p *PKI) Client(t testing.TB, cn string) (certFile, keyFile string) {
	t.Helper()
	return p.issue(t, cn, "", x509.ExtKeyUsageClientAuth)
}

// ClientTLS returns a TLS configuration presenting a new certificate for cn
// and trusting the CA.
func (p *PKI) ClientTLS(t testing.TB, cn string) *tls.Config {
	t.Helper()
	certFile, keyFile := p.Client(t, cn)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("brokertest: load client certificate: %v", err)
	}
	cfg := p.NoCertTLS()
	cfg.Certificates = []tls.Certificate{cert}
	return cfg
}

// NoCertTLS returns a TLS configuration that trusts the CA and presents no
// certificate.
func (p *PKI) NoCertTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func (p *PKI) issue(t testing.TB, cn, ip string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	p.mu.Lock()
	p.serial++
	serial := p.serial
	p.mu.Unlock()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if ip != "" {
		tmpl.IPAddresses = []net.IP{net.ParseIP(ip)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatalf("brokertest: issue certificate for %q: %v", cn, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("brokertest: marshal key: %v", err)
	}
	// A CN may hold '/' ("{pharmacy}/{till}"): not in a file name.
	base := filepath.Join(p.Dir, strings.ReplaceAll(cn, "/", "_")+"-"+big.NewInt(serial).String())
	certFile, keyFile = base+".crt", base+".key"
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("brokertest: generate key: %v", err)
	}
	return key
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	// 0644 also for keys: a root mosquitto may read its files as another
	// user; these keys live for one test.
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatalf("brokertest: write %s: %v", path, err)
	}
}

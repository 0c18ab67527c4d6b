package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/tillguard/tillguard/sync/bureau"
	"github.com/tillguard/tillguard/sync/keys"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

func cmdBureau(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if tool, ok := bureauTools[args[0]]; ok { // cmd_bureau_tools.go
			return tool(ctx, args[1:], stdout, stderr)
		}
	}
	fs, f := bureauFlags()
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *f.broker == "" || *f.enroll == "" {
		fmt.Fprintln(stderr, "bureau: --broker and --enroll are required")
		return errUsage
	}
	log := newLogger(stderr, 0)
	enrolled, err := keys.LoadEnrolled(*f.enroll)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*f.dataDir, 0o700); err != nil {
		return err
	}
	ar, err := ledger.OpenArchive(filepath.Join(*f.dataDir, "archive.db"), &ledger.Opts{Log: log})
	if err != nil {
		return err
	}
	defer ar.Close()
	b := bureau.New(ar, &bureau.Opts{Enrolled: enrolled, Shared: *f.shared, Log: log})
	ln, err := net.Listen("tcp", *f.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Fprintf(stdout, "bureau: %d tills enrolled, http://%s/\n", len(enrolled), ln.Addr())
	mo, err := f.tls()
	if err != nil {
		return err
	}
	mo.Broker, mo.ClientID, mo.Log = *f.broker, *f.clientID, log
	err = b.Run(ctx, *mo)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// bureauSettings are the values of `tillguard bureau`'s flags.
type bureauSettings struct {
	broker, dataDir, addr, enroll, clientID *string
	shared                                  *bool
	tls                                     func() (*mqttclient.Options, error)
}

// bureauFlags are the flags of `tillguard bureau` (deploy/bureau.conf is
// checked against them).
func bureauFlags() (*flag.FlagSet, bureauSettings) {
	fs := flag.NewFlagSet("bureau", flag.ContinueOnError)
	fs.String("config", "", "config file of `name = value` lines (flags win)")
	return fs, bureauSettings{
		broker:   fs.String("broker", "", "tcp://host:port or ssl://host:port (required)"),
		dataDir:  fs.String("data-dir", "./bureau-data", "the bureau's store"),
		addr:     fs.String("http", "127.0.0.1:8090", "listen address of the status and export API"),
		enroll:   fs.String("enroll", "", "directory of enrolled till public keys (<pharmacy>.<till>.pub)"),
		shared:   fs.Bool("shared", false, "consume through a shared subscription, so several receivers split the load"),
		clientID: fs.String("client-id", "tillguard-bureau", "MQTT client id (distinct per receiver with --shared)"),
		tls:      tlsFlags(fs),
	}
}

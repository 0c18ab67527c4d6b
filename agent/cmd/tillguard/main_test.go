package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"
)

func TestApplyConfig(t *testing.T) {
	tests := []struct {
		name, file string
		args       []string
		want       map[string]string
		errs       []string
	}{
		{
			name: "values, comments, quotes",
			file: "# till 1\npharmacy = H33010200001\ntill=T01  # front desk\nhttp = \"127.0.0.1:9000\"\n\n",
			want: map[string]string{"pharmacy": "H33010200001", "till": "T01", "http": "127.0.0.1:9000"},
		},
		{
			name: "the command line wins",
			file: "till = T01\n",
			args: []string{"--till", "T02"},
			want: map[string]string{"till": "T02"},
		},
		{
			name: "every problem at once",
			file: "colour = red\nbaud = fast\njust words\nconfig = other.conf\n",
			errs: []string{"line 1: unknown setting \"colour\"", "line 2: baud", "line 3: want name = value", "line 4: unknown setting \"config\""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("run", flag.ContinueOnError)
			fs.String("config", "", "")
			fs.String("pharmacy", "", "")
			fs.String("till", "", "")
			fs.String("http", "", "")
			fs.Int("baud", 9600, "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := applyConfig(fs, strings.NewReader(tt.file))
			for _, e := range tt.errs {
				if err == nil || !strings.Contains(err.Error(), e) {
					t.Errorf("error %v, want it to contain %q", err, e)
				}
			}
			if len(tt.errs) == 0 && err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if got := fs.Lookup(k).Value.String(); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func FuzzApplyConfig(f *testing.F) {
	f.Add("pharmacy = H1\ntill = T1\n")
	f.Add("baud = 9600 # x\n=\n\"\"\n")
	f.Fuzz(func(t *testing.T, file string) {
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		till := fs.String("till", "unset", "")
		fs.Int("baud", 9600, "")
		if err := applyConfig(fs, strings.NewReader(file)); err == nil && *till != "unset" && strings.ContainsAny(*till, "#\n") {
			t.Errorf("till = %q: a comment or line break leaked into a value", *till)
		}
	})
}

func TestRun_commandLine(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		contains string
	}{
		{nil, 2, "usage:"},
		{[]string{"version"}, 0, "tillguard dev"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"run", "--region", "33", "--data-dir", "x", "--http", "0.0.0.0:8080"}, 2, "--pharmacy is required"},
		{[]string{"run", "--region", "33"}, 2, "--region 33: want the 6-digit"},
		{[]string{"run", "--http", "0.0.0.0:8080"}, 2, "only loopback"},
		{[]string{"run", "--no-such-flag"}, 2, "--no-such-flag: no such flag"},
		{[]string{"keys"}, 2, "usage: tillguard keys"},
		{[]string{"bureau"}, 2, "--broker is required"},
		{[]string{"bureau", "enroll", "--till", "T1"}, 2, "--pharmacy, --till and --key are required"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tt.args, strings.NewReader(""), &out, &errOut)
		if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.contains) {
			t.Errorf("tillguard %v = %d, %q %q; want %d containing %q", tt.args, code, out.String(), errOut.String(), tt.code, tt.contains)
		}
	}
}

func TestRun_keysShowIsStable(t *testing.T) {
	dir := t.TempDir()
	var first, second bytes.Buffer
	if code := run(context.Background(), []string{"keys", "show", "--data-dir", dir}, nil, &first, &first); code != 0 {
		t.Fatalf("keys show = %d: %s", code, first.String())
	}
	if code := run(context.Background(), []string{"keys", "show", "--data-dir", dir}, nil, &second, &second); code != 0 {
		t.Fatalf("keys show = %d: %s", code, second.String())
	}
	if first.String() != second.String() || len(strings.TrimSpace(first.String())) != 44 {
		t.Errorf("keys show printed %q then %q, want the same 44-character base64 key", first.String(), second.String())
	}
}

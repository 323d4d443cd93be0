package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/signer"
)

// exitStatus is the status main exits with after run returned err.
func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	return exitCode(err)
}

func TestRunExitCodes(t *testing.T) {
	kek := newKEK()
	// No test here reaches a database: each one stops before connecting.
	unreachable := "postgres://keyward@127.0.0.1:1/keyward"
	tests := []struct {
		name       string
		args       []string
		env        env
		wantCode   int
		wantErr    string // in the error run returns ("" when it returns nil)
		wantStdout string
		wantStderr string // in what run itself wrote to stderr
	}{
		{
			name:       "no command exits 2 and shows the usage",
			wantCode:   2,
			wantErr:    "no command",
			wantStderr: "Usage:",
		},
		{
			name:       "an unknown command exits 2 and names it",
			args:       []string{"frobnicate"},
			wantCode:   2,
			wantErr:    `"frobnicate"`,
			wantStderr: "Usage:",
		},
		{
			name:       "help shows the usage on stdout and exits 0",
			args:       []string{"--help"},
			wantCode:   0,
			wantStdout: "keyward serve",
		},
		{
			name:       "serve --help exits 0 and lists serve's flags",
			args:       []string{"serve", "--help"},
			wantCode:   0,
			wantErr:    "help requested",
			wantStderr: "-key-encryption-key",
		},
		{
			name:       "migrate --help exits 0",
			args:       []string{"migrate", "--help"},
			wantCode:   0,
			wantErr:    "help requested",
			wantStderr: "-database-url",
		},
		{
			name:       "migrate up --help exits 0",
			args:       []string{"migrate", "up", "--help"},
			wantCode:   0,
			wantErr:    "help requested",
			wantStderr: "-database-url",
		},
		{
			name:       "keys list --help exits 0",
			args:       []string{"keys", "list", "--help"},
			wantCode:   0,
			wantErr:    "help requested",
			wantStderr: "-signing-key-bits",
		},
		{
			name:       "bootstrap --help exits 0",
			args:       []string{"bootstrap", "--help"},
			wantCode:   0,
			wantErr:    "help requested",
			wantStderr: "-key-encryption-key",
		},
		{
			name:       "token --help exits 0",
			args:       []string{"token", "--help"},
			wantCode:   0,
			wantErr:    "help requested",
			wantStderr: "-client-secret",
		},
		{
			name:       "an unknown flag exits 2 after the flag package explains it",
			args:       []string{"serve", "--colour"},
			env:        env{"KEYWARD_KEY_ENCRYPTION_KEY": kek},
			wantCode:   2,
			wantErr:    "invalid flags",
			wantStderr: "colour",
		},
		{
			name:     "migrate with an unknown subcommand exits 2",
			args:     []string{"migrate", "down", "--database-url", unreachable},
			wantCode: 2,
			wantErr:  "migrate up|status",
		},
		{
			name:     "keys without a subcommand exits 2",
			args:     []string{"keys"},
			env:      env{"KEYWARD_DATABASE_URL": unreachable, "KEYWARD_KEY_ENCRYPTION_KEY": kek},
			wantCode: 2,
			wantErr:  "keys list|rotate",
		},
		{
			name:     "bootstrap with an argument exits 2",
			args:     []string{"bootstrap", "now"},
			env:      env{"KEYWARD_DATABASE_URL": unreachable, "KEYWARD_KEY_ENCRYPTION_KEY": kek},
			wantCode: 2,
			wantErr:  "no arguments",
		},
		{
			name:     "token without credentials exits 2",
			args:     []string{"token", "--issuer", "http://127.0.0.1:1"},
			wantCode: 2,
			wantErr:  "--client-id and --client-secret are required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, tt.env.get, &stdout, &stderr)
			if got := exitStatus(err); got != tt.wantCode {
				t.Errorf("run error = %v, exit status %d, want %d", err, got, tt.wantCode)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("run error = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("run error = %v, want one saying %q", err, tt.wantErr)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout does not contain %q:\n%s", tt.wantStdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantStderr, stderr.String())
			}
		})
	}
}

func TestRunStopsOnABadSettingWithOneLineNamingIt(t *testing.T) {
	kek := newKEK()
	db := "postgres://keyward@127.0.0.1:1/keyward" // never reached
	full := env{"KEYWARD_DATABASE_URL": db, "KEYWARD_KEY_ENCRYPTION_KEY": kek}
	tests := []struct {
		name        string
		args        []string
		env         env
		wantSetting string
	}{
		{"serve without a database URL names KEYWARD_DATABASE_URL", []string{"serve"}, env{"KEYWARD_KEY_ENCRYPTION_KEY": kek}, "KEYWARD_DATABASE_URL"},
		{"serve without a key-encryption key names KEYWARD_KEY_ENCRYPTION_KEY", []string{"serve"}, env{"KEYWARD_DATABASE_URL": db}, "KEYWARD_KEY_ENCRYPTION_KEY"},
		{"migrate up without a database URL names KEYWARD_DATABASE_URL", []string{"migrate", "up"}, env{}, "KEYWARD_DATABASE_URL"},
		{"migrate status without a database URL names KEYWARD_DATABASE_URL", []string{"migrate", "status"}, env{}, "KEYWARD_DATABASE_URL"},
		{"bootstrap without a key-encryption key names KEYWARD_KEY_ENCRYPTION_KEY", []string{"bootstrap"}, env{"KEYWARD_DATABASE_URL": db}, "KEYWARD_KEY_ENCRYPTION_KEY"},
		{"keys list with a 16-byte key-encryption key names KEYWARD_KEY_ENCRYPTION_KEY", []string{"keys", "list"},
			full.with(env{"KEYWARD_KEY_ENCRYPTION_KEY": "AAAAAAAAAAAAAAAAAAAAAA=="}), "KEYWARD_KEY_ENCRYPTION_KEY"},
		{"a malformed key-encryption key flag names --key-encryption-key", []string{"serve", "--key-encryption-key", "nope"}, full, "--key-encryption-key"},
		{"an issuer with a query names --issuer", []string{"serve", "--issuer", "https://a.example/?x=1"}, full, "--issuer"},
		{"a malformed database URL names KEYWARD_DATABASE_URL", []string{"serve"},
			full.with(env{"KEYWARD_DATABASE_URL": "postgres://%zz"}), "KEYWARD_DATABASE_URL"},
		{"a bootstrap client id without its secret names the secret", []string{"serve"},
			full.with(env{"KEYWARD_BOOTSTRAP_CLIENT_ID": "ci-admin"}), "KEYWARD_BOOTSTRAP_CLIENT_SECRET"},
		{"a bootstrap secret shorter than 24 characters names it", []string{"serve"},
			full.with(env{"KEYWARD_BOOTSTRAP_CLIENT_ID": "ci-admin", "KEYWARD_BOOTSTRAP_CLIENT_SECRET": "short"}), "KEYWARD_BOOTSTRAP_CLIENT_SECRET"},
		{"a bootstrap client id with a space names it", []string{"serve"},
			full.with(env{"KEYWARD_BOOTSTRAP_CLIENT_ID": "ci admin", "KEYWARD_BOOTSTRAP_CLIENT_SECRET": strings.Repeat("s", 32)}), "KEYWARD_BOOTSTRAP_CLIENT_ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, tt.env.get, &stdout, &stderr)
			if got := exitStatus(err); got != 2 {
				t.Errorf("run error = %v, exit status %d, want 2", err, got)
			}
			if err == nil {
				return
			}
			// run prints nothing itself; main adds "keyward: " and the error.
			printed := stderr.String() + "keyward: " + err.Error() + "\n"
			if n := strings.Count(printed, "\n"); n != 1 {
				t.Errorf("stderr would be %d lines, want 1:\n%s", n, printed)
			}
			if !strings.HasPrefix(printed, "keyward: "+tt.wantSetting+": ") {
				t.Errorf("stderr %q does not name %s first", printed, tt.wantSetting)
			}
		})
	}
}

func TestRunVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		t.Run(arg+" prints one line starting with keyward", func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), []string{arg}, env{}.get, &stdout, &stderr); err != nil {
				t.Fatalf("run = %v", err)
			}
			out := stdout.String()
			if !strings.HasPrefix(out, "keyward ") || strings.Count(out, "\n") != 1 {
				t.Errorf("stdout = %q, want one line starting with \"keyward \"", out)
			}
			if want := ", signer " + signer.Description() + "\n"; !strings.HasSuffix(out, want) {
				t.Errorf("stdout = %q, want it to end with %q", out, want)
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr = %q, want nothing", stderr.String())
			}
		})
	}
}

// TestMainProcess runs the built binary, so main's own printing and exit
// status are checked, not just run's.
func TestMainProcess(t *testing.T) {
	bin := keywardBinary(t)
	tests := []struct {
		name       string
		args       []string
		env        []string
		wantCode   int
		wantStdout string
		wantStderr string // the whole of stderr when exact, else a part
		exact      bool
	}{
		{
			name:       "a missing database URL exits 2 with one line naming it",
			args:       []string{"serve"},
			env:        []string{"KEYWARD_KEY_ENCRYPTION_KEY=" + newKEK()},
			wantCode:   2,
			wantStderr: "keyward: KEYWARD_DATABASE_URL: is required (a PostgreSQL URL such as postgres://user@localhost:5432/keyward)\n",
			exact:      true,
		},
		{
			name:       "a short key-encryption key exits 2 with one line naming it",
			args:       []string{"serve"},
			env:        []string{"KEYWARD_DATABASE_URL=postgres://127.0.0.1:1/k", "KEYWARD_KEY_ENCRYPTION_KEY=AAAAAAAAAAAAAAAAAAAAAA=="},
			wantCode:   2,
			wantStderr: "keyward: KEYWARD_KEY_ENCRYPTION_KEY: key 1 is 16 bytes, want 32: base64 of 32 random bytes, e.g. from `head -c32 /dev/urandom | base64`\n",
			exact:      true,
		},
		{
			name:       "serve --help exits 0 with the flags and no error line",
			args:       []string{"serve", "--help"},
			wantCode:   0,
			wantStderr: "Usage: keyward serve [flags]",
		},
		{
			name:       "version exits 0 and prints keyward",
			args:       []string{"version"},
			wantCode:   0,
			wantStdout: "keyward ",
			exact:      true,
		},
		{
			name:       "no command exits 2",
			wantCode:   2,
			wantStderr: "keyward: no command given\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = tt.env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			code := 0
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout = %q, want it to start with %q", stdout.String(), tt.wantStdout)
			}
			switch {
			case tt.exact && tt.wantStderr != "" && stderr.String() != tt.wantStderr:
				t.Errorf("stderr = %q, want exactly %q", stderr.String(), tt.wantStderr)
			case tt.exact && tt.wantStderr == "" && stderr.Len() != 0:
				t.Errorf("stderr = %q, want nothing", stderr.String())
			case !strings.Contains(stderr.String(), tt.wantStderr):
				t.Errorf("stderr does not contain %q:\n%s", tt.wantStderr, stderr.String())
			}
			if strings.Contains(stderr.String(), "help requested") {
				t.Errorf("stderr reports --help as an error:\n%s", stderr.String())
			}
		})
	}
}

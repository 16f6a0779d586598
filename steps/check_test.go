package steps

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var checkNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// healthyReport is a cluster at level 2: the certificate has 180 days left,
// two agents heartbeated a second ago over verified TLS with the server's
// certificate in their PEM.
func healthyReport() *StatusReport {
	r := &StatusReport{Server: ServerStatus{Host: "cm1.example.com", CertNotAfter: checkNow.Add(180 * 24 * time.Hour),
		CertSHA256: "AA:BB", AgentTLS: true, HeartbeatPort: "this certificate"}}
	for _, h := range []string{"agent1", "agent2"} {
		r.Agents = append(r.Agents, AgentStatus{Host: h, Reachable: true, ServerHost: "cm1.example.com", UseTLS: "1",
			VerifyCertFile: "/etc/cmf/server.pem", PEMFingerprint: "AA:BB", PEMMatches: true, NameMatches: true,
			PEMNotAfter: checkNow.Add(180 * 24 * time.Hour), LastHeartbeat: checkNow.Add(-time.Second), TLS: "verified"})
	}
	return r
}

func TestCheckStates(t *testing.T) {
	day := 24 * time.Hour
	cases := []struct {
		name     string
		mod      func(*StatusReport)
		warn     time.Duration
		crit     time.Duration
		want     CheckState
		wantText string
	}{
		{"healthy", nil, 30 * day, 7 * day, CheckOK, "valid 180 more days"},
		{"warn 400d", nil, 400 * day, 7 * day, CheckWarning, "the server certificate expires in 180 days"},
		{"critical 400d", nil, 400 * day, 400 * day, CheckCritical, "expires in 180 days"},
		{"expired", func(r *StatusReport) { r.Server.CertNotAfter = checkNow.Add(-time.Hour) }, 30 * day, 7 * day, CheckCritical, "expired"},
		{"api down", func(r *StatusReport) {
			r.Server.APIError = "connection refused"
			r.Server.settingsUnknown = true
			r.Server.AgentTLS = false
			for i := range r.Agents {
				r.Agents[i].LastHeartbeat, r.Agents[i].TLS = time.Time{}, "unknown"
			}
		}, 30 * day, 7 * day, CheckUnknown, "CM API: connection refused"},
		{"api down and expired", func(r *StatusReport) {
			r.Server.APIError = "connection refused"
			r.Server.settingsUnknown = true
			r.Server.CertNotAfter = checkNow.Add(-time.Hour)
		}, 30 * day, 7 * day, CheckCritical, "expired"},
		{"stale heartbeat", func(r *StatusReport) { r.Agents[1].LastHeartbeat = checkNow.Add(-10 * time.Minute) }, 30 * day, 7 * day, CheckCritical, "agent2: last heartbeat 10m0s ago"},
		{"level 1", func(r *StatusReport) { r.Agents[0].TLS = "encrypted" }, 30 * day, 7 * day, CheckCritical, "agent1: heartbeats over TLS without verifying"},
		{"pem differs", func(r *StatusReport) { r.Agents[0].PEMMatches, r.Agents[0].PEMFingerprint = false, "CC:DD" }, 30 * day, 7 * day, CheckCritical, "agent1: its PEM (sha256 CC:DD) is not the server's certificate"},
		{"agent unreachable", func(r *StatusReport) { r.Agents[0].Reachable, r.Agents[0].Error = false, "dial: refused" }, 30 * day, 7 * day, CheckUnknown, "agent1: cannot be reached: dial: refused"},
		{"agent TLS off", func(r *StatusReport) { r.Server.AgentTLS = false }, 30 * day, 7 * day, CheckCritical, "AGENT_TLS is off"},
		{"renewal under way", func(r *StatusReport) { r.Server.RenewPhase = "b, switch" }, 30 * day, 7 * day, CheckWarning, "renewal is under way"},
		{"bundle mid-renewal", func(r *StatusReport) {
			r.Server.RenewPhase = "a, bundle"
			r.Agents[0].PEMMatches, r.Agents[0].PEMFingerprint = false, "CC:DD"
		}, 30 * day, 7 * day, CheckWarning, "agent1: its PEM (sha256 CC:DD) is not the server's certificate alone (renewal under way)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := healthyReport()
			if tc.mod != nil {
				tc.mod(r)
			}
			c := Check(r, CheckOptions{Warn: tc.warn, Critical: tc.crit, Now: checkNow})
			line := c.Line()
			if c.State != tc.want || !strings.HasPrefix(line, "CMTLS "+tc.want.String()+" - ") || !strings.Contains(line, tc.wantText) {
				t.Fatalf("state %s, line %q; want %s with %q", c.State, line, tc.want, tc.wantText)
			}
			if strings.Count(line, "|") != 1 || strings.Contains(line, "\n") {
				t.Fatalf("line %q: want one line with one '|'", line)
			}
			checkPerfdata(t, strings.SplitN(line, " | ", 2)[1])
			var b bytes.Buffer
			if err := c.WritePrometheus(&b); err != nil {
				t.Fatal(err)
			}
			if _, err := parsePromText(b.Bytes()); err != nil {
				t.Fatalf("textfile: %v\n%s", err, b.String())
			}
		})
	}
}

func TestCheckPerfdataAndMetrics(t *testing.T) {
	r := healthyReport()
	r.Agents[1].Host = `odd"host\name`
	c := Check(r, CheckOptions{Warn: 30 * 24 * time.Hour, Critical: 7 * 24 * time.Hour, Now: checkNow})
	perf := strings.SplitN(c.Line(), " | ", 2)[1]
	if !strings.Contains(perf, "server_cert_seconds_left=15552000s;2592000:;604800:") || !strings.Contains(perf, "agents_verified=2;;2:;0;2") {
		t.Errorf("perfdata %q", perf)
	}
	var b bytes.Buffer
	must(t, c.WritePrometheus(&b))
	m, err := parsePromText(b.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	want := map[string]float64{
		`cmtls_check_status`: 0,
		`cmtls_certificate_expiry_timestamp_seconds{host="cm1.example.com",role="server"}`: float64(checkNow.Add(180 * 24 * time.Hour).Unix()),
		`cmtls_agent_verified{host="agent1"}`:                                              1,
		`cmtls_agent_verified{host="odd\"host\\name"}`:                                     1,
		`cmtls_agent_heartbeat_age_seconds{host="agent1"}`:                                 1,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
}

var perfRe = regexp.MustCompile(`^('[^'=]+'|[^ '=]+)=(-?[0-9.]+)(s|%|B|KB|MB|TB|c)?(;[0-9.:~@-]*){0,4}$`)

// checkPerfdata checks each datum against the Development Guidelines'
// syntax: 'label'=value[UOM];[warn];[crit];[min];[max].
func checkPerfdata(t *testing.T, perf string) {
	t.Helper()
	for _, d := range strings.Fields(perf) {
		if !perfRe.MatchString(d) {
			t.Errorf("perfdata %q is not 'label'=value[UOM];[warn];[crit];[min];[max]", d)
		}
	}
}

var (
	promName  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	promLabel = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// parsePromText reads the Prometheus text exposition format (version
// 0.0.4) strictly enough for a textfile collector: HELP and TYPE lines
// before a family's samples, a family's samples together, metric and label
// names by the grammar, label values with only \\, \" and \n escaped,
// values that parse as floats, no series twice. It returns the samples by
// their canonical series name (labels sorted).
func parsePromText(data []byte) (map[string]float64, error) {
	out := map[string]float64{}
	typed := map[string]bool{}
	done := map[string]bool{}
	cur := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "#") {
			f := strings.SplitN(l, " ", 4)
			if len(f) < 3 || (f[1] != "HELP" && f[1] != "TYPE") {
				continue // a plain comment
			}
			if !promName.MatchString(f[2]) {
				return nil, fmt.Errorf("line %d: bad metric name %q", n, f[2])
			}
			if f[1] == "TYPE" {
				if len(f) != 4 || !map[string]bool{"gauge": true, "counter": true, "untyped": true, "summary": true, "histogram": true}[f[3]] {
					return nil, fmt.Errorf("line %d: bad TYPE", n)
				}
				if typed[f[2]] {
					return nil, fmt.Errorf("line %d: second TYPE for %s", n, f[2])
				}
				typed[f[2]] = true
			}
			continue
		}
		name, rest := l, ""
		i := strings.IndexAny(l, "{ ")
		if i < 0 {
			return nil, fmt.Errorf("line %d: no value", n)
		}
		name, rest = l[:i], l[i:]
		if !promName.MatchString(name) {
			return nil, fmt.Errorf("line %d: bad metric name %q", n, name)
		}
		if !typed[name] {
			return nil, fmt.Errorf("line %d: %s has no TYPE line before its samples", n, name)
		}
		if name != cur {
			if done[name] {
				return nil, fmt.Errorf("line %d: samples of %s are not together", n, name)
			}
			if cur != "" {
				done[cur] = true
			}
			cur = name
		}
		var labels []string
		if strings.HasPrefix(rest, "{") {
			j := 1
			for {
				if j >= len(rest) {
					return nil, fmt.Errorf("line %d: unterminated labels", n)
				}
				if rest[j] == '}' {
					j++
					break
				}
				eq := strings.IndexByte(rest[j:], '=')
				if eq < 0 {
					return nil, fmt.Errorf("line %d: label without '='", n)
				}
				ln := rest[j : j+eq]
				if !promLabel.MatchString(ln) {
					return nil, fmt.Errorf("line %d: bad label name %q", n, ln)
				}
				j += eq + 1
				if j >= len(rest) || rest[j] != '"' {
					return nil, fmt.Errorf("line %d: label value not quoted", n)
				}
				j++
				var v strings.Builder
				for {
					if j >= len(rest) {
						return nil, fmt.Errorf("line %d: unterminated label value", n)
					}
					ch := rest[j]
					if ch == '"' {
						j++
						break
					}
					if ch == '\\' {
						if j+1 >= len(rest) || !strings.ContainsRune(`\"n`, rune(rest[j+1])) {
							return nil, fmt.Errorf("line %d: bad escape in label value", n)
						}
						v.WriteByte(ch)
						v.WriteByte(rest[j+1])
						j += 2
						continue
					}
					v.WriteByte(ch)
					j++
				}
				labels = append(labels, ln+`="`+v.String()+`"`)
				if j < len(rest) && rest[j] == ',' {
					j++
				}
			}
			rest = rest[j:]
		}
		f := strings.Fields(rest)
		if len(f) < 1 || len(f) > 2 {
			return nil, fmt.Errorf("line %d: want a value (and a timestamp)", n)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: value %q: %v", n, f[0], err)
		}
		key := name
		if len(labels) > 0 {
			sortStrings(labels)
			key += "{" + strings.Join(labels, ",") + "}"
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("line %d: series %s twice", n, key)
		}
		out[key] = v
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("the text does not end with a line feed")
	}
	return out, sc.Err()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// FuzzPromText: the parser of the test never panics and accepts what
// WritePrometheus writes for any host name.
func FuzzPromText(f *testing.F) {
	f.Add("agent1", []byte("# TYPE a gauge\na{x=\"1\"} 2\n"))
	f.Fuzz(func(t *testing.T, host string, data []byte) {
		_, _ = parsePromText(data)
		r := healthyReport()
		r.Agents[0].Host = host
		if host == r.Agents[1].Host {
			return
		}
		var b bytes.Buffer
		_ = Check(r, CheckOptions{Now: checkNow}).WritePrometheus(&b)
		if _, err := parsePromText(b.Bytes()); err != nil {
			t.Fatalf("host %q: %v", host, err)
		}
	})
}

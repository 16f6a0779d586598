package cmserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
)

// The Cloudera Management Service settings the server keeps: its roles
// (Host Monitor, Service Monitor, ...) reach the CM server over TLS once
// "Use TLS Encryption for Admin Console" is on and then need a truststore
// (Cloudera "Configuring TLS for the Cloudera Management Service"; the
// cloudera.cluster collection sets these two through PUT /cm/service/config).
var mgmtCatalog = []Setting{
	{Name: "ssl_client_truststore_location", DisplayName: "TLS/SSL Client Truststore File Location"},
	{Name: "ssl_client_truststore_password", DisplayName: "TLS/SSL Client Truststore File Password", Sensitive: true},
}

func lookupMgmt(name string) (Setting, bool) {
	for _, s := range mgmtCatalog {
		if strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return Setting{}, false
}

// LoadServiceConfig reads the Management Service settings file; missing
// is none set.
func LoadServiceConfig(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	var f settingsFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 {
		return nil, fmt.Errorf("management service config %s: version 1 JSON expected (%v)", path, err)
	}
	out := map[string]string{}
	for k, v := range f.Items {
		d, ok := lookupMgmt(k)
		if !ok {
			return nil, fmt.Errorf("management service config %s: unknown setting %q", path, k)
		}
		out[d.Name] = v
	}
	return out, nil
}

func (s *Server) handleServiceConfig(w http.ResponseWriter, r *http.Request) {
	if s.cfg.NoManagementService {
		writeError(w, http.StatusNotFound, "Cloudera Management Service does not exist.")
		return
	}
	switch r.Method {
	case http.MethodGet:
		full := strings.EqualFold(r.URL.Query().Get("view"), "full")
		writeJSON(w, http.StatusOK, map[string]any{"items": s.serviceConfigItems(full)})
	case http.MethodPut:
		var body struct {
			Items []struct {
				Name  string  `json:"name"`
				Value *string `json:"value"`
			} `json:"items"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		s.mu.Lock()
		next := map[string]string{}
		for k, v := range s.mgmtConfig {
			next[k] = v
		}
		s.mu.Unlock()
		for _, it := range body.Items {
			d, ok := lookupMgmt(it.Name)
			if !ok {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown configuration attribute %q for service mgmt", sanitizeLog(it.Name)))
				return
			}
			if it.Value == nil || *it.Value == "" {
				delete(next, d.Name)
				continue
			}
			if strings.ContainsAny(*it.Value, "\x00\r\n") {
				writeError(w, http.StatusBadRequest, "invalid value for "+d.Name+": control characters")
				return
			}
			next[d.Name] = *it.Value
		}
		if s.cfg.ServiceConfigPath != "" {
			if err := writeFileAtomic(s.cfg.ServiceConfigPath, MarshalSettings(Settings(next)), 0o600); err != nil {
				writeError(w, http.StatusInternalServerError, "could not save configuration: "+err.Error())
				return
			}
		}
		s.mu.Lock()
		s.mgmtConfig = next
		s.mu.Unlock()
		s.log.info("qtp-api:com.cloudera.server.cmf.ConfigUpdate", fmt.Sprintf("Updated Cloudera Management Service config (%d set)", len(next)))
		if s.profile.ConfigPutStatus == http.StatusNoContent {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, s.profile.ConfigPutStatus, map[string]any{"items": s.serviceConfigItems(false)})
	default:
		writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	}
}

func (s *Server) serviceConfigItems(full bool) []apiConfigItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := []apiConfigItem{}
	for _, d := range mgmtCatalog {
		v, set := s.mgmtConfig[d.Name]
		if !full && !set {
			continue
		}
		it := apiConfigItem{Name: d.Name}
		if set {
			if d.Sensitive {
				v = redacted
			}
			it.Value = &v
		}
		if full {
			it.DisplayName = d.DisplayName
			sens := d.Sensitive
			it.Sensitive = &sens
		}
		items = append(items, it)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	return items
}

// ServiceConfig returns the Management Service settings (tests).
func (s *Server) ServiceConfig() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.mgmtConfig {
		out[k] = v
	}
	return out
}

package api

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"abuseguard"
	"abuseguard/web"
)

func invalid(format string, args ...any) error {
	return abuseguard.Errorf(abuseguard.EINVALID, format, args...)
}

// decode reads exactly one JSON object into v, rejecting unknown fields,
// wrong types and trailing data with a message that says which.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return invalid("Send the body as JSON with Content-Type: application/json.")
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return invalid("The body must hold exactly one JSON object.")
	}
	return nil
}

func decodeError(err error) error {
	var (
		syntax    *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		tooLarge  *http.MaxBytesError
		errorText = err.Error()
	)
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.Is(err, io.EOF):
		return invalid("The request body is empty; a JSON object is expected.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("The JSON body ends too early.")
	case errors.As(err, &syntax):
		return invalid("Malformed JSON at byte %d: %s.", syntax.Offset, syntax.Error())
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return invalid("The body must be a JSON object, not %s.", typeErr.Value)
		}
		return invalid("Field %q must be %s, not %s.", field, jsonType(typeErr.Type.String()), typeErr.Value)
	case strings.HasPrefix(errorText, "json: unknown field "):
		return invalid("Unknown field %s.", strings.TrimPrefix(errorText, "json: unknown field "))
	}
	// Values that reject themselves (addresses, times) say why.
	return invalid("Invalid JSON body: %s.", strings.TrimPrefix(errorText, "json: "))
}

func jsonType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string", strings.HasSuffix(goType, "Addr"), strings.HasSuffix(goType, "Reason"):
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	}
	return "an object"
}

// query checks that q holds only the allowed parameters, each once.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q := r.URL.Query()
	for k, vs := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			return nil, invalid("Unknown query parameter %q; known: %s.", k, strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return nil, invalid("Query parameter %q given more than once.", k)
		}
	}
	return q, nil
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, invalid("%q is not an IP address.", s)
	}
	return a.Unmap(), nil
}

func pageOf(q url.Values) (offset, limit int, err error) {
	for _, p := range []struct {
		name string
		dst  *int
	}{{"offset", &offset}, {"limit", &limit}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return 0, 0, invalid("%s must be a whole number, not %q.", p.name, v)
			}
			*p.dst = n
		}
	}
	return offset, limit, nil
}

func parseSince(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, invalid("since must be an RFC 3339 time like 2026-11-24T10:00:00Z, not %q.", v)
	}
	return t, nil
}

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIDocument)
	return nil
}

func (a *API) status(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	addr, err := parseAddr(r.PathValue("address"))
	if err != nil {
		return err
	}
	st, err := a.deps.Cases.Status(r.Context(), addr)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, st)
	return nil
}

// CaseList is the answer of GET /cases.
type CaseList struct {
	Cases []*abuseguard.Case `json:"cases"`
	Total int                `json:"total"`
}

func (a *API) listCases(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "state", "reason", "server", "customer", "address", "since", "offset", "limit")
	if err != nil {
		return err
	}
	var f abuseguard.CaseFilter
	if v := q.Get("state"); v != "" {
		for s := range strings.SplitSeq(v, ",") {
			st := abuseguard.CaseState(strings.TrimSpace(s))
			switch st {
			case abuseguard.CaseOpen, abuseguard.CaseWarned, abuseguard.CasePendingApproval, abuseguard.CaseBlocked,
				abuseguard.CaseStatementSubmitted, abuseguard.CaseRejected, abuseguard.CaseUnblocked, abuseguard.CaseClosed:
				f.States = append(f.States, st)
			default:
				return invalid("Unknown state %q.", s)
			}
		}
	}
	if v := q.Get("reason"); v != "" {
		f.Reason = abuseguard.Reason(v)
		switch f.Reason {
		case abuseguard.ReasonNetscan, abuseguard.ReasonPacketLimit, abuseguard.ReasonIncomingFlood,
			abuseguard.ReasonMisconfiguration, abuseguard.ReasonAbuse, abuseguard.ReasonManual:
		default:
			return invalid("Unknown reason %q.", v)
		}
	}
	if v := q.Get("address"); v != "" {
		if f.Address, err = parseAddr(v); err != nil {
			return err
		}
	}
	f.ServerID, f.CustomerID = q.Get("server"), q.Get("customer")
	if f.Since, err = parseSince(q.Get("since")); err != nil {
		return err
	}
	if f.Offset, f.Limit, err = pageOf(q); err != nil {
		return err
	}
	cs, total, err := a.deps.Cases.FindCases(r.Context(), f)
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []*abuseguard.Case{}
	}
	web.WriteJSON(w, http.StatusOK, CaseList{Cases: cs, Total: total})
	return nil
}

func (a *API) getCase(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	c, err := a.deps.Cases.FindCaseByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) evidence(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 {
		return invalid("The evidence number must be a whole number from 0, not %q.", r.PathValue("n"))
	}
	e, err := a.deps.Cases.Evidence(r.Context(), r.PathValue("id"), n)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", e.ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": e.Name}))
	w.Header().Set("Content-Length", strconv.Itoa(len(e.Data)))
	w.Write(e.Data)
	return nil
}

// BlockRequest is the body of POST /blocks.
type BlockRequest struct {
	Address  string            `json:"address"`
	Reason   abuseguard.Reason `json:"reason,omitempty"`
	Comment  string            `json:"comment,omitempty"`
	Duration string            `json:"duration,omitempty"` // Go duration, e.g. "2h"; empty: until unblocked
}

func (a *API) block(w http.ResponseWriter, r *http.Request) error {
	var req BlockRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	addr, err := parseAddr(req.Address)
	if err != nil {
		return err
	}
	mb := abuseguard.ManualBlock{Address: addr, Reason: req.Reason, Comment: req.Comment}
	if req.Duration != "" {
		if mb.Duration, err = time.ParseDuration(req.Duration); err != nil {
			return invalid("duration must look like 90m or 24h, not %q.", req.Duration)
		}
	}
	c, err := a.deps.Cases.Block(r.Context(), mb)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusCreated, c)
	return nil
}

// CommentRequest is the body of unblock and approve; it may be empty.
type CommentRequest struct {
	Comment string `json:"comment"`
}

func (a *API) comment(r *http.Request) (string, error) {
	var req CommentRequest
	if r.ContentLength == 0 {
		return "", nil
	}
	err := decode(r, &req)
	return req.Comment, err
}

func (a *API) unblock(w http.ResponseWriter, r *http.Request) error {
	comment, err := a.comment(r)
	if err != nil {
		return err
	}
	return a.answerCase(w)(a.deps.Cases.Unblock(r.Context(), r.PathValue("id"), comment))
}

func (a *API) approve(w http.ResponseWriter, r *http.Request) error {
	comment, err := a.comment(r)
	if err != nil {
		return err
	}
	return a.answerCase(w)(a.deps.Cases.Approve(r.Context(), r.PathValue("id"), comment))
}

func (a *API) answerCase(w http.ResponseWriter) func(*abuseguard.Case, error) error {
	return func(c *abuseguard.Case, err error) error {
		if err != nil {
			return err
		}
		web.WriteJSON(w, http.StatusOK, c)
		return nil
	}
}

// AccessIPRequest is the body of PUT /cases/{id}/access-ip.
type AccessIPRequest struct {
	Address string `json:"address"`
}

func (a *API) setAccessIP(w http.ResponseWriter, r *http.Request) error {
	var req AccessIPRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	addr, err := parseAccessIP(req.Address)
	if err != nil {
		return err
	}
	return a.answerCase(w)(a.deps.Cases.SetAccessIP(r.Context(), r.PathValue("id"), addr))
}

// parseAccessIP takes an address or a host prefix; a wider prefix is
// refused with a clear message.
func parseAccessIP(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, invalid("address is required.")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Addr{}, invalid("%q is not an IP address.", s)
		}
		if !p.IsSingleIP() {
			return netip.Addr{}, invalid("%s is a network: the access IP must be one host address (a /32 or /128).", p)
		}
		return p.Addr().Unmap(), nil
	}
	return parseAddr(s)
}

func (a *API) clearAccessIP(w http.ResponseWriter, r *http.Request) error {
	return a.answerCase(w)(a.deps.Cases.ClearAccessIP(r.Context(), r.PathValue("id")))
}

// StatementRequest is the body of POST /cases/{id}/statement.
type StatementRequest struct {
	Cause      string `json:"cause"`
	Fix        string `json:"fix"`
	Prevention string `json:"prevention"`
	Commitment bool   `json:"commitment"`
}

func (a *API) statement(w http.ResponseWriter, r *http.Request) error {
	var req StatementRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	return a.answerCase(w)(a.deps.Cases.SubmitStatement(r.Context(), r.PathValue("id"), abuseguard.Statement{
		Cause: req.Cause, Fix: req.Fix, Prevention: req.Prevention, Commitment: req.Commitment}))
}

// ReviewRequest is the body of POST /cases/{id}/review.
type ReviewRequest struct {
	Decision string `json:"decision"` // "accept" or "reject"
	Reason   string `json:"reason,omitempty"`
}

func (a *API) review(w http.ResponseWriter, r *http.Request) error {
	var req ReviewRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Decision != "accept" && req.Decision != "reject" {
		return invalid("decision must be accept or reject.")
	}
	return a.answerCase(w)(a.deps.Cases.Review(r.Context(), r.PathValue("id"),
		abuseguard.Review{Accept: req.Decision == "accept", Reason: req.Reason}))
}

// MessageRequest is the body of POST /cases/{id}/messages.
type MessageRequest struct {
	Kind string `json:"kind,omitempty"` // message (default), console_request, note (operators)
	Body string `json:"body"`
}

func (a *API) message(w http.ResponseWriter, r *http.Request) error {
	var req MessageRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	m, err := a.deps.Cases.AddMessage(r.Context(), r.PathValue("id"), abuseguard.Message{Kind: req.Kind, Body: req.Body})
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusCreated, m)
	return nil
}

// AuditList is the answer of GET /audit.
type AuditList struct {
	Entries []abuseguard.AuditEntry `json:"entries"`
	Total   int                     `json:"total"`
}

func (a *API) audit(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "case", "action", "since", "offset", "limit")
	if err != nil {
		return err
	}
	f := abuseguard.AuditFilter{CaseID: q.Get("case"), Action: q.Get("action")}
	if f.Since, err = parseSince(q.Get("since")); err != nil {
		return err
	}
	if f.Offset, f.Limit, err = pageOf(q); err != nil {
		return err
	}
	es, total, err := a.deps.Audit.FindAudit(r.Context(), f)
	if err != nil {
		return err
	}
	if es == nil {
		es = []abuseguard.AuditEntry{}
	}
	web.WriteJSON(w, http.StatusOK, AuditList{Entries: es, Total: total})
	return nil
}

func (a *API) enforcement(w http.ResponseWriter, r *http.Request) error {
	if a := abuseguard.ActorFromContext(r.Context()); a.Role != abuseguard.RoleOperator {
		return abuseguard.Errorf(abuseguard.EUNAUTHORIZED, "Only the abuse desk may see enforcement.")
	}
	if _, err := query(r); err != nil {
		return err
	}
	out := &abuseguard.Enforcement{}
	if a.deps.Enforcement != nil {
		var err error
		if out, err = a.deps.Enforcement.Enforcement(r.Context()); err != nil {
			return err
		}
	}
	if out.Enforcers == nil {
		out.Enforcers = []abuseguard.EnforcerStatus{}
	}
	if out.Neighbors == nil {
		out.Neighbors = []abuseguard.Neighbor{}
	}
	web.WriteJSON(w, http.StatusOK, out)
	return nil
}

// DetectionsRequest is the body of POST /detections.
type DetectionsRequest struct {
	Detections []abuseguard.Detection `json:"detections"`
}

// DetectionsResponse names the case each detection went to, in order.
type DetectionsResponse struct {
	Cases []string `json:"cases"`
}

func (a *API) detections(w http.ResponseWriter, r *http.Request) error {
	if a := abuseguard.ActorFromContext(r.Context()); a.Role != abuseguard.RoleOperator {
		// Before reading the body: a customer learns nothing from it.
		return abuseguard.Errorf(abuseguard.EUNAUTHORIZED, "Only the abuse desk may send detections.")
	}
	var req DetectionsRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if len(req.Detections) == 0 || len(req.Detections) > a.cfg.MaxDetections {
		return invalid("Send 1 to %d detections.", a.cfg.MaxDetections)
	}
	ids, err := a.deps.Detections.IngestAll(r.Context(), req.Detections)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, DetectionsResponse{Cases: ids})
	return nil
}

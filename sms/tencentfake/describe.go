package tencentfake

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Review states of a signature or template (StatusCode in
// DescribeSmsSignList and DescribeSmsTemplateList). Only StatusApproved
// ones can send.
const (
	StatusApproved        int64 = 0  // 审核通过且已生效
	StatusUnderReview     int64 = 1  // 审核中
	StatusApprovedPending int64 = 2  // 审核通过待生效
	StatusRejected        int64 = -1 // 审核未通过
)

// firstSignID numbers the fake's signatures (real ids are opaque numbers).
const firstSignID = 300000

// review is a signature's or template's review state.
type review struct {
	status  int64
	reply   string
	created time.Time
	signID  uint64 // signatures only
}

// reviews holds every signature and template the account has, with its
// state; Options.SignNames and Options.Templates start approved.
type reviews struct {
	signs     map[string]*review // by signature text
	signOrder []string           // in creation order, for paging
	templates map[string]*review // by template id
}

// reviewsLocked returns the account's reviews, made on first use.
func (s *Server) reviewsLocked() *reviews {
	if s.reviews != nil {
		return s.reviews
	}
	now := s.opts.Now()
	r := &reviews{signs: map[string]*review{}, templates: map[string]*review{}}
	for _, name := range s.opts.SignNames {
		if r.signs[name] == nil {
			r.signs[name] = &review{created: now, signID: firstSignID + uint64(len(r.signOrder))}
			r.signOrder = append(r.signOrder, name)
		}
	}
	for id := range s.opts.Templates {
		r.templates[id] = &review{created: now}
	}
	s.reviews = r
	return r
}

// SetSignStatus changes the review state of a signature of
// Options.SignNames (reply is the reviewer's text, e.g. why it was
// rejected). A signature that is not StatusApproved cannot send.
func (s *Server) SetSignStatus(name string, status int64, reply string) error {
	return s.setReview(signsOf, name, status, reply)
}

// SetTemplateStatus changes the review state of a template of
// Options.Templates. A template that is not StatusApproved cannot send.
func (s *Server) SetTemplateStatus(id string, status int64, reply string) error {
	return s.setReview(templatesOf, id, status, reply)
}

// signsOf and templatesOf pick one kind of review.
func signsOf(r *reviews) map[string]*review     { return r.signs }
func templatesOf(r *reviews) map[string]*review { return r.templates }

func (s *Server) setReview(kind func(*reviews) map[string]*review, key string, status int64, reply string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := kind(s.reviewsLocked())[key]
	if r == nil {
		return fmt.Errorf("tencentfake: no signature or template %q in Options", key)
	}
	r.status, r.reply = status, reply
	return nil
}

// approved is what SendSms checks of its signature and template.
func (s *Server) approved(kind func(*reviews) map[string]*review, key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := kind(s.reviewsLocked())[key]
	return r != nil && r.status == StatusApproved
}

// describeActions are the read-only actions the fake serves besides SendSms.
var describeActions = map[string]func(*Server, []byte) (map[string]any, *apiError){
	"DescribeSmsSignList":     (*Server).describeSigns,
	"DescribeSmsTemplateList": (*Server).describeTemplates,
}

// maxListLimit is the documented upper bound of Limit ("最多100").
const maxListLimit = 100

// listRequest is the body of both describe actions; unknown fields are
// rejected as for SendSms.
type listRequest struct {
	International *uint64
	SignIdSet     []uint64
	TemplateIdSet []uint64
	Limit         *uint64
	Offset        *uint64
}

func decodeList(raw []byte, idField string) (listRequest, *apiError) {
	var req listRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return req, &apiError{"UnknownParameter", "The parameter " + strings.TrimPrefix(err.Error(), "json: unknown field ") + " is not recognized."}
		case errors.As(err, &typeErr):
			return req, &apiError{"InvalidParameter", fmt.Sprintf("The parameter %s has the wrong type.", typeErr.Field)}
		}
		return req, &apiError{"FailedOperation.JsonParseFail", "the request body is not valid JSON"}
	}
	// Each action takes its own id set only.
	if (idField == "SignIdSet" && req.TemplateIdSet != nil) || (idField == "TemplateIdSet" && req.SignIdSet != nil) {
		return req, &apiError{"UnknownParameter", "The parameter is not recognized for this action."}
	}
	if req.International == nil {
		return req, &apiError{"MissingParameter", "The request is missing a required parameter `International`."}
	}
	if *req.International > 1 {
		return req, &apiError{"InvalidParameterValue", "International must be 0 or 1."}
	}
	if req.Limit != nil && *req.Limit > maxListLimit {
		return req, &apiError{"InvalidParameterValue.LimitVerifyFail", fmt.Sprintf("Limit must be at most %d.", maxListLimit)}
	}
	return req, nil
}

// pick chooses what a describe request asks for among keys (the
// account's signatures or templates in order, id giving each one's id):
// nothing for an international query (the fake has only mainland ones),
// the ones in the id set when there is one, else a page by Limit (default
// defaultLimit) and Offset.
func pick(keys []string, id func(string) uint64, set []uint64, req listRequest, defaultLimit uint64) []string {
	switch {
	case *req.International != 0:
		return nil
	case set != nil:
		var out []string
		for _, k := range keys {
			if slices.Contains(set, id(k)) {
				out = append(out, k)
			}
		}
		return out
	}
	limit, offset := defaultLimit, uint64(0)
	if req.Limit != nil {
		limit = *req.Limit
	}
	if req.Offset != nil {
		offset = *req.Offset
	}
	from := min(offset, uint64(len(keys)))
	return keys[from:min(from+limit, uint64(len(keys)))]
}

// describeSigns answers DescribeSmsSignList. The fake's signatures are all
// mainland ones (International 0), so an international query finds none.
func (s *Server) describeSigns(raw []byte) (map[string]any, *apiError) {
	req, e := decodeList(raw, "SignIdSet")
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reviewsLocked()
	// Limit defaults to 10 when no ids are given.
	names := pick(r.signOrder, func(name string) uint64 { return r.signs[name].signID }, req.SignIdSet, req, 10)
	set := make([]map[string]any, 0, len(names))
	for _, name := range names {
		rv := r.signs[name]
		set = append(set, map[string]any{
			"SignId": rv.signID, "International": 0, "StatusCode": rv.status, "ReviewReply": rv.reply,
			"SignName": name, "CreateTime": rv.created.Unix(),
		})
	}
	return map[string]any{"DescribeSignListStatusSet": set}, nil
}

// describeTemplates answers DescribeSmsTemplateList; ids the account does
// not have are left out of the answer. The fake's templates are mainland
// ones.
func (s *Server) describeTemplates(raw []byte) (map[string]any, *apiError) {
	req, e := decodeList(raw, "TemplateIdSet")
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reviewsLocked()
	var ids []string
	for id := range r.templates {
		if _, err := strconv.ParseUint(id, 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(templateID(a), templateID(b)) })
	// Limit defaults to 0 when no ids are given.
	chosen := pick(ids, templateID, req.TemplateIdSet, req, 0)
	set := make([]map[string]any, 0, len(chosen))
	for _, id := range chosen {
		rv := r.templates[id]
		set = append(set, map[string]any{
			"TemplateId": templateID(id), "International": 0, "StatusCode": rv.status, "ReviewReply": rv.reply,
			"TemplateName": "template " + id, "CreateTime": rv.created.Unix(), "TemplateContent": s.opts.Templates[id].Text,
		})
	}
	return map[string]any{"DescribeTemplateStatusSet": set}, nil
}

// templateID is a template's numeric id (the fake's keys are strings, as
// SendSms sends them; only numeric ones can be listed).
func templateID(id string) uint64 {
	n, _ := strconv.ParseUint(id, 10, 64)
	return n
}

package providers

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tinylabscom/mvm-verify/internal/badinput"
)

// Class says what a failed provider call means for the candidate loop.
type Class int

const (
	// ClassUnknown is treated like ClassInvalid: stop and report.
	ClassUnknown Class = iota
	// ClassCapacity: the region/zone/type has no room now. Clean up, next candidate.
	ClassCapacity
	// ClassQuota: the account may not create more. Clean up, next candidate.
	ClassQuota
	// ClassTransient: throttling, 5xx, eventual consistency. Back off, same candidate.
	ClassTransient
	// ClassAuth: credentials missing, expired or not allowed. Stop.
	ClassAuth
	// ClassInvalid: the request is wrong (unknown type, bad image). Stop.
	ClassInvalid
)

func (c Class) String() string {
	switch c {
	case ClassCapacity:
		return "capacity"
	case ClassQuota:
		return "quota"
	case ClassTransient:
		return "transient"
	case ClassAuth:
		return "auth"
	case ClassInvalid:
		return "invalid"
	}
	return "unknown"
}

// Error is a provider error with its class. Code is the provider's own error
// code (e.g. "InsufficientInstanceCapacity") when it has one.
type Error struct {
	Class Class
	Code  string
	Err   error
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s (%s): %v", e.Class, e.Code, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Class, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Classified wraps err with a class; nil stays nil.
func Classified(c Class, code string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Class: c, Code: code, Err: err}
}

// ClassOf returns the class of the first *Error in err's chain, or ClassUnknown.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return ClassUnknown
}

// InputError is bad input: which input, the value given and the form
// expected — badinput.Error, the one shape of every refused input.
type InputError = badinput.Error

// LooksLikeKey reports whether a value holds private key material, so that
// a key pasted into the wrong input is not echoed back in an error.
func LooksLikeKey(s string) bool { return badinput.LooksLikeKey(s) }

// placedError is an error with the candidate, as resolved, it happened on.
type placedError struct {
	c   Candidate
	err error
}

func (e *placedError) Error() string { return e.err.Error() }
func (e *placedError) Unwrap() error { return e.err }

// At records that err happened on candidate c as the provider resolved it
// (zone and type filled in), for the summary's attempt rows; nil stays nil.
func At(c Candidate, err error) error {
	if err == nil {
		return nil
	}
	return &placedError{c: c, err: err}
}

// WhereOf returns the candidate At recorded in err's chain.
func WhereOf(err error) (Candidate, bool) {
	var e *placedError
	if errors.As(err, &e) {
		return e.c, true
	}
	return Candidate{}, false
}

// FailedAttempt is the attempt row of a failed try on c.
func FailedAttempt(c Candidate, err error, d time.Duration) Attempt {
	return Attempt{Candidate: c, Class: ClassOf(err), Code: codeOf(err), Error: Message(err), Duration: d}
}

// Message is err's text for people: each classified error in it reads as
// its cause (with the provider's code, when the cause does not already
// name it), without the class ("invalid: ", "auth: "), which is there for
// the program's decisions — ClassOf still finds it in err. Every classified
// error in the tree is rewritten, also those joined with errors.Join.
func Message(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if pe, ok := e.(*Error); ok && pe.Err != nil {
			cause := pe.Err.Error()
			if pe.Code != "" && !strings.Contains(cause, pe.Code) {
				cause += " (" + pe.Code + ")"
			}
			msg = strings.Replace(msg, pe.Error(), cause, 1)
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return msg
}

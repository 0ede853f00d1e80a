// Command gocheck verifies regogate's checkpoints and proofs with Go's own
// golang.org/x/mod/sumdb/note and sumdb/tlog (an independent implementation).
// Input: JSON on stdin; output: "ok" or the first failure, exit 1.
package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusion struct {
	Index int64    `json:"index"`
	Size  int64    `json:"size"`
	Proof []string `json:"proof"`
	Root  string   `json:"root"`
	Leaf  string   `json:"leaf"`
}

type consistency struct {
	Old     int64    `json:"old"`
	New     int64    `json:"new"`
	Proof   []string `json:"proof"`
	OldRoot string   `json:"old_root"`
	NewRoot string   `json:"new_root"`
}

type input struct {
	Vkey        string        `json:"vkey"`
	Note        string        `json:"note"`
	Text        string        `json:"text"`
	Leaves      []string      `json:"leaves"`
	Root        string        `json:"root"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

func h(s string) tlog.Hash {
	var out tlog.Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(out) {
		fail("bad hash %q", s)
	}
	copy(out[:], b)
	return out
}

func fail(format string, args ...any) {
	fmt.Printf(format+"\n", args...)
	os.Exit(1)
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail("bad input: %v", err)
	}
	v, err := note.NewVerifier(in.Vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	n, err := note.Open([]byte(in.Note), note.VerifierList(v))
	if err != nil {
		fail("note.Open: %v", err)
	}
	if n.Text != in.Text {
		fail("note text differs: %q", n.Text)
	}
	// Tree hash from the leaves with Go's own storage-hash algorithm.
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for j, k := range idx {
			out[j] = stored[k]
		}
		return out, nil
	})
	for i, l := range in.Leaves {
		hashes, err := tlog.StoredHashesForRecordHash(int64(i), h(l), reader)
		if err != nil {
			fail("StoredHashes: %v", err)
		}
		stored = append(stored, hashes...)
	}
	th, err := tlog.TreeHash(int64(len(in.Leaves)), reader)
	if err != nil {
		fail("TreeHash: %v", err)
	}
	if th != h(in.Root) {
		fail("tree hash differs: go %x", th[:])
	}
	for _, c := range in.Inclusion {
		var p tlog.RecordProof
		for _, x := range c.Proof {
			p = append(p, h(x))
		}
		if err := tlog.CheckRecord(p, c.Size, h(c.Root), c.Index, h(c.Leaf)); err != nil {
			fail("CheckRecord(%d of %d): %v", c.Index, c.Size, err)
		}
	}
	for _, c := range in.Consistency {
		var p tlog.TreeProof
		for _, x := range c.Proof {
			p = append(p, h(x))
		}
		if err := tlog.CheckTree(p, c.New, h(c.NewRoot), c.Old, h(c.OldRoot)); err != nil {
			fail("CheckTree(%d -> %d): %v", c.Old, c.New, err)
		}
	}
	fmt.Println("ok")
}

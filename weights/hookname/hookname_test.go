package hookname

import "testing"

func TestParse(t *testing.T) {
	good := map[string]Hook{
		"hook_embed":              {-1, Embed},
		"hook_pos_embed":          {-1, PosEmbed},
		"blocks.9.hook_resid_pre": {9, ResidPre},
		"blocks.0.mlp.hook_post":  {0, MLPPost},
		"blocks.11.hook_mlp_out":  {11, MLPOut},
	}
	for name, want := range good {
		got, err := Parse(name, 12)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v", name, got, err)
		}
		if got.String() != name {
			t.Errorf("String() = %q, want %q", got.String(), name)
		}
	}
	for _, bad := range []string{"", "blocks.x.hook_resid_pre", "blocks.12.hook_resid_pre", "blocks.-1.hook_mlp_out", "blocks.1.hook_q", "blocks.1", "ln_final.hook_normalized"} {
		if _, err := Parse(bad, 12); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	a, _ := Parse("blocks.1.hook_resid_post", 0)
	b, _ := Parse("blocks.2.hook_resid_pre", 0)
	e, _ := Parse("hook_pos_embed", 0)
	if !(e.Order() < a.Order() && a.Order() < b.Order()) {
		t.Error("Order not increasing")
	}
}

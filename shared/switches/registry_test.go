package switches

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

var versions int64

func install(t *testing.T, r *Registry, states ...State) {
	t.Helper()
	versions++
	if !r.Install(&Snapshot{Version: r.Version() + versions, Switches: states}) {
		t.Fatal("Install refused a newer snapshot")
	}
}

func TestRegistry_UnsetSwitchesHaveTheirDefaults(t *testing.T) {
	r := NewRegistry(Catalogue)
	for _, d := range Catalogue {
		if r.Value(d.Name) != d.Default {
			t.Errorf("%s = %v, want its default %v", d.Name, r.Value(d.Name), d.Default)
		}
	}
	if !r.Enabled(Presence, Subject{UserID: 1}) {
		t.Error("presence is on by default")
	}
	if r.Duration(ReloadInterval) != 3*time.Second {
		t.Errorf("reload interval %v", r.Duration(ReloadInterval))
	}
}

func TestRegistry_NeverGoesBackToAnOlderSnapshot(t *testing.T) {
	r := NewRegistry(Catalogue)
	r.Install(&Snapshot{Version: 5, Switches: []State{{Name: Presence, Value: "off"}}})
	if r.Install(&Snapshot{Version: 4}) || r.Install(&Snapshot{Version: 5}) {
		t.Fatal("Install took a snapshot that is not newer")
	}
	if r.Bool(Presence) {
		t.Fatal("an older snapshot undid a change")
	}
}

func TestRegistry_SkipsStatesItCannotRead(t *testing.T) {
	r := NewRegistry(Catalogue)
	r.Install(&Snapshot{Version: 1, Switches: []State{
		{Name: "from_a_newer_release", Value: "on"},
		{Name: GroupFanoutLimit, Value: "lots"},
		{Name: HistoryPageLimit, Value: "50"},
	}})
	if r.Int(GroupFanoutLimit) != 0 || r.Int(HistoryPageLimit) != 50 {
		t.Fatalf("fanout %d, history %d", r.Int(GroupFanoutLimit), r.Int(HistoryPageLimit))
	}
	if r.Enabled("no_such_switch", Subject{}) {
		t.Fatal("an unknown switch is enabled")
	}
}

func TestRegistry_ReadsDuringInstallsAreRaceFree(t *testing.T) {
	r := NewRegistry(Catalogue)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					r.Enabled(Presence, Subject{UserID: 3})
					r.Int(GroupFanoutLimit)
				}
			}
		}()
	}
	for v := int64(1); v <= 200; v++ {
		r.Install(&Snapshot{Version: v, Switches: []State{{Name: Presence, Value: Format(KindBool, Value(v%2))}}})
	}
	close(stop)
	wg.Wait()
}

func TestRegistry_HotPathReadDoesNotAllocate(t *testing.T) {
	r := NewRegistry(Catalogue)
	install(t, r, State{Name: Presence, Value: "on", Rules: &Rules{Percent: pct(50), Platforms: []string{"ios"}}})
	s := Subject{UserID: 42, Platform: "ios"}
	if n := testing.AllocsPerRun(100, func() { r.Enabled(Presence, s) }); n != 0 {
		t.Fatalf("Enabled allocates %v times per call", n)
	}
}

func TestParseFormat_RoundTrip(t *testing.T) {
	for _, c := range []struct {
		k  Kind
		in string
	}{{KindBool, "on"}, {KindBool, "off"}, {KindPercent, "12.5%"}, {KindPercent, "100%"}, {KindInt, "-3"}, {KindDuration, "1.5s"}} {
		v, err := Parse(c.k, c.in)
		if err != nil {
			t.Fatalf("Parse(%s, %q): %v", c.k, c.in, err)
		}
		if got := Format(c.k, v); got != c.in {
			t.Errorf("Format(Parse(%q)) = %q", c.in, got)
		}
	}
	for _, c := range []struct {
		k  Kind
		in string
	}{{KindBool, "maybe"}, {KindPercent, "101"}, {KindPercent, "-1"}, {KindInt, "1.5"}, {KindDuration, "-1s"}, {KindDuration, "soon"}} {
		if _, err := Parse(c.k, c.in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%s, %q) = %v, want ErrInvalid", c.k, c.in, err)
		}
	}
}

func TestService_SetStoresRecordsHistoryAndInstalls(t *testing.T) {
	ctx := context.Background()
	svc := &Service{Store: NewMemoryStore(), Registry: NewRegistry(Catalogue)}
	if _, err := svc.Set(ctx, Change{Name: Presence, Value: "off", Actor: "ops"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a change without a reason: %v", err)
	}
	if _, err := svc.Set(ctx, Change{Name: "nope", Value: "off", Actor: "ops", Reason: "x"}); !errors.Is(err, ErrUnknown) {
		t.Fatalf("an unknown switch: %v", err)
	}
	rec, err := svc.Set(ctx, Change{Name: Presence, Value: "false", Actor: "ops", Reason: "redis is melting"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.OldValue != "" || rec.NewValue != "off" || svc.Registry.Bool(Presence) {
		t.Fatalf("record %+v, presence %v", rec, svc.Registry.Bool(Presence))
	}
	if _, err := svc.Set(ctx, Change{Name: Presence, Value: "on", Actor: "ops", Reason: "recovered", Rules: &Rules{Percent: pct(5)}}); err != nil {
		t.Fatal(err)
	}
	h, _ := svc.Store.History(ctx, Presence, 10)
	if len(h) != 2 || h[0].OldValue != "off" || h[0].NewValue != "on" || h[0].Reason != "recovered" || h[0].NewRules == nil {
		t.Fatalf("history %+v", h)
	}
	if c, _ := svc.Registry.Get(Presence); !c.Set || c.UpdatedBy != "ops" || c.Rules == nil {
		t.Fatalf("current %+v", c)
	}
}

package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/push/client"
)

func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	c := client.New(client.Config{
		APIBase:  "http://127.0.0.1:8080",
		PushAddr: "127.0.0.1:7000",
		Username: "alice",
		Password: "correct horse battery",
		DeviceID: "laptop-1",
		Platform: "desktop",
		// LastVersion: loaded from where the application persisted it.
		Handler: func(e tether.Entry) {
			// Called once per version, in order. Persist e.Version with the
			// entry to resume from it after a restart.
			if e.Message != nil {
				fmt.Printf("v%d from %d: %s\n", e.Version, e.Message.SenderID, e.Message.Content)
			}
		},
	})
	go func() {
		tok, err := c.AccessToken(ctx)
		if err != nil {
			return
		}
		bob, err := c.API().UserByName(ctx, tok, "bob")
		if err != nil {
			return
		}
		// An empty client message id gets a random one; retries reuse it.
		_, _, _ = c.Send(ctx, bob.ID, "", tether.MessageText, json.RawMessage(`{"text":"hi bob"}`))
	}()
	if err := c.Run(ctx); err != nil && ctx.Err() == nil {
		fmt.Println("client stopped:", err)
	}
}

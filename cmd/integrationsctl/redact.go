package main

import (
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
)

const redacted = "REDACTED"

// secretFields are the string fields of responses that hold an OAuth secret.
var secretFields = map[protoreflect.Name]bool{"client_secret": true, "access_token": true, "refresh_token": true}

// redact hides the secrets of a response before a command prints it, unless
// --show-secrets was given: it is the one place every command's output is
// redacted, in text and in JSON alike. It replaces, in place and in every
// message m holds, OAuth secrets (client_secret, access_token, refresh_token)
// and the values of the config keys isSecret names in every
// google.protobuf.Struct (a config). A nil isSecret means which keys are
// secret is not known, and every config value is hidden.
func (a *app) redact(m proto.Message, isSecret func(key string) bool) {
	if a.showSecrets || m == nil {
		return
	}
	redactMessage(m.ProtoReflect(), isSecret)
}

func redactMessage(m protoreflect.Message, isSecret func(string) bool) {
	if cfg, ok := m.Interface().(*structpb.Struct); ok {
		for key := range cfg.GetFields() {
			if isSecret == nil || isSecret(key) {
				cfg.Fields[key] = structpb.NewStringValue(redacted)
			}
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() == protoreflect.StringKind && !fd.IsList() && !fd.IsMap() && secretFields[fd.Name()]:
			if v.String() != "" {
				m.Set(fd, protoreflect.ValueOfString(redacted))
			}
		case fd.Kind() == protoreflect.MessageKind && fd.IsList():
			for i, list := 0, v.List(); i < list.Len(); i++ {
				redactMessage(list.Get(i).Message(), isSecret)
			}
		case fd.Kind() == protoreflect.MessageKind && !fd.IsMap():
			redactMessage(v.Message(), isSecret)
		}
		return true
	})
}

// keys is isSecret for a list of secret config keys.
func keys(secret []string) func(string) bool {
	set := make(map[string]bool, len(secret))
	for _, k := range secret {
		set[k] = true
	}
	return func(k string) bool { return set[k] }
}

// secretKeysOf says which of the integration's config keys are secret, from
// its schema (the mapping messages do not say). A key that may not read the
// schema (not an admin) gets nil: every config value is then hidden.
func (a *app) secretKeysOf(cmd *cobra.Command, integration string) (func(string) bool, error) {
	if a.showSecrets {
		return nil, nil
	}
	schema, known, err := a.schemaOf(cmd, integration)
	if err != nil || !known {
		return nil, err
	}
	return schemaSecrets(schema), nil
}

// schemaSecrets is isSecret for the keys a schema types as secret.
func schemaSecrets(schema []*adminv1.ConfigField) func(string) bool {
	var secret []string
	for _, f := range schema {
		if f.GetType() == adminv1.ConfigType_CONFIG_TYPE_SECRET {
			secret = append(secret, f.GetKey())
		}
	}
	return keys(secret)
}

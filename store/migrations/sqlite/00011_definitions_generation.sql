-- +goose Up
-- A second counter, advanced only by writes of definitions (API keys,
-- integrations with their schemas and defaults, connections): what is cached
-- from those stays valid through the frequent writes of mappings and tokens,
-- which advance only value.
ALTER TABLE generation ADD COLUMN definitions INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE generation DROP COLUMN definitions;

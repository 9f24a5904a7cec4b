package main

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// setupTracing exports traces over OTLP when the standard OTEL_* variables ask
// for it (an OTLP endpoint, or OTEL_TRACES_EXPORTER=otlp) and OTEL_SDK_DISABLED
// does not forbid it; otherwise tracing is off and it returns nil. The exporter,
// sampler and resource read their OTEL_* variables themselves.
func setupTracing(ctx context.Context, lookupEnv func(string) (string, bool)) (trace.TracerProvider, func(context.Context) error, error) {
	get := func(k string) string { v, _ := lookupEnv(k); return v }
	if get("OTEL_SDK_DISABLED") == "true" || get("OTEL_TRACES_EXPORTER") == "none" {
		return nil, nil, nil
	}
	if get("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" && get("OTEL_TRACES_EXPORTER") != "otlp" {
		return nil, nil, nil
	}
	var opts []otlptracegrpc.Option
	if endpoint := get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); endpoint != "" {
		opts = append(opts, otlptracegrpc.WithEndpointURL(endpoint))
	} else if endpoint := get("OTEL_EXPORTER_OTLP_ENDPOINT"); endpoint != "" {
		opts = append(opts, otlptracegrpc.WithEndpointURL(endpoint))
	}
	exporter, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(serviceName(get))))
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}

func serviceName(get func(string) string) string {
	if name := get("OTEL_SERVICE_NAME"); name != "" {
		return name
	}
	return "integrationsd"
}

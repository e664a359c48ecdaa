package flow

// Sink receives batches of records. The slice and the Header bytes it
// references belong to the caller and are reused after Sink returns: a sink
// that keeps records past the call must copy them. Sinks are called from one
// goroutine per input and must not block for long: inputs drop and count when
// downstream is slow (see collector).
type Sink func(records []Record)

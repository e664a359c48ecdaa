package flow

// Sink receives batches of records. The slice and the Header bytes it
// references belong to the caller and are reused after Sink returns: a sink
// that keeps records past the call must copy them.
//
// A sink is called concurrently: by every worker of every UDP listener and
// by every AF_PACKET ring (see collector), so it must be safe for concurrent
// use. It must not block for long: inputs drop and count when downstream is
// slow rather than wait.
type Sink func(records []Record)

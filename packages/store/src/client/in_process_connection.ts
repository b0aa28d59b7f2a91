// A connection to a store member in the same process: the etcd service
// handlers are called directly instead of through HTTP/2. Every message still
// goes through the client's serializer and the server's deserializer (and
// back), so both sides see exactly what they would see over gRPC (int64 as
// strings on the client, request sizes recorded on the server) and share no
// objects; what is skipped is the socket, HTTP/2 framing and grpc-js' call
// machinery.
import { CallDispatcher, type EtcdServiceEntry } from '../transport/call_dispatcher.js';
import type { ClientFrame, ServerFrame } from '../transport/call_frames.js';
import { FrameConnection } from './frame_connection.js';
import { Mailbox } from './mailbox.js';

/** One etcd service as the server registers it: method definitions and handlers. */
export type InProcessService = EtcdServiceEntry;

/** A FrameConnection whose member end is a CallDispatcher in this thread. */
export class InProcessConnection extends FrameConnection {
  private readonly toServer = new Mailbox();
  private readonly toClient = new Mailbox();

  constructor(services: readonly InProcessService[], address = 'in-process') {
    super(address);
    const dispatcher = new CallDispatcher(services, (f: ServerFrame) => {
      // Unary answers arrive at once (the handler's callback is already asynchronous);
      // stream messages one per event-loop turn.
      if (f.k === 'result' || f.k === 'error') this.receive(f);
      else this.toClient.post(() => this.receive(f));
    });
    this.attach({
      send: (f: ClientFrame) => {
        // A unary call starts in a microtask, not a macrotask: as soon as the caller's synchronous
        // code is done, without waiting a whole event-loop turn behind other I/O.
        if (f.k === 'unary') queueMicrotask(() => dispatcher.receive(f));
        else if (f.k === 'close') dispatcher.receive(f);
        else this.toServer.post(() => dispatcher.receive(f));
      },
    });
  }
}

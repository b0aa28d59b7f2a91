/**
 * Minimal gRPC server reflection (grpc.reflection.v1 and v1alpha share one
 * wire format): list_services, file_by_filename and file_containing_symbol
 * for the services this server registers. Other requests get an
 * error_response with UNIMPLEMENTED / NOT_FOUND.
 */
import { status as GrpcStatus, type ServerDuplexStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { decodeGrpc, encodeGrpc, fileDescriptors, grpcSchema, REFLECTION_PROTO, RESOURCES_PROTO, type Msg } from './proto.js';

const REQ = 'grpc.reflection.v1alpha.ServerReflectionRequest';
const RES = 'grpc.reflection.v1alpha.ServerReflectionResponse';

/** Which file declares a fully qualified symbol (service, method, message, enum). */
function fileOfSymbol(symbol: string): string | undefined {
  const found = grpcSchema().lookup(symbol.replace(/^\./, ''));
  if (!found) {
    // Methods: "pkg.Service.Method" resolve through their service.
    const dot = symbol.lastIndexOf('.');
    return dot > 0 ? fileOfSymbol(symbol.slice(0, dot)) : undefined;
  }
  const file = found.filename ?? '';
  if (file.endsWith(RESOURCES_PROTO)) return RESOURCES_PROTO;
  if (file.endsWith(REFLECTION_PROTO)) return REFLECTION_PROTO;
  return undefined;
}

export function reflectionImplementation(services: () => string[]): UntypedServiceImplementation {
  return {
    ServerReflectionInfo: (call: ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (raw: Buffer) => {
        let req: Msg;
        try {
          req = decodeGrpc(REQ, raw);
        } catch (err) {
          call.emit('error', { code: GrpcStatus.INVALID_ARGUMENT, details: `malformed reflection request: ${(err as Error).message}` });
          return;
        }
        const res: Msg = { valid_host: req.host ?? '', original_request: req };
        const descriptors = fileDescriptors();
        const files = (name: string | undefined) => {
          const fd = name === undefined ? undefined : descriptors.get(name);
          if (fd) res.file_descriptor_response = { file_descriptor_proto: [fd] };
          else res.error_response = { error_code: GrpcStatus.NOT_FOUND, error_message: `not found: ${String(name ?? '')}` };
        };
        if (req.list_services !== undefined && req.list_services !== null) {
          res.list_services_response = { service: services().map((name) => ({ name })) };
        } else if (req.file_by_filename) files(String(req.file_by_filename));
        else if (req.file_containing_symbol) files(fileOfSymbol(String(req.file_containing_symbol)) ?? String(req.file_containing_symbol));
        else res.error_response = { error_code: GrpcStatus.UNIMPLEMENTED, error_message: 'only list_services, file_by_filename and file_containing_symbol are served' };
        call.write(encodeGrpc(RES, res));
      });
      call.on('end', () => call.end());
    },
  };
}

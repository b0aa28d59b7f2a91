/**
 * @peculiar/x509 ready to use: its dependency injection needs the Reflect
 * metadata polyfill loaded first, and its crypto is Node's WebCrypto.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as never);

export { x509 };

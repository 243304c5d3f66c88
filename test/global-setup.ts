import { buildBridge } from '../scripts/build-bridge';

/** The served bridge is generated (public/pushframe.min.js): build it from the current source. */
export default async function globalSetup(): Promise<void> {
  await buildBridge();
}

// Audio in and out of a room for the tests that join it with LiveKit's
// Node SDK (@livekit/rtc-node): a sine published as a microphone track,
// and a subscribed track read as 48 kHz mono PCM.

import { AudioStream, AudioSource, AudioFrame, LocalAudioTrack, TrackPublishOptions, TrackSource } from '@livekit/rtc-node';
import { concatPcm } from './phone.mjs';

// Reads a subscribed track for ms milliseconds at 48 kHz mono.
export async function listen(track, ms) {
  const stream = new AudioStream(track, 48000, 1);
  const reader = stream.getReader();
  const parts = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const { value, done } = await reader.read();
    if (done) break;
    parts.push(Int16Array.from(value.data));
  }
  reader.releaseLock();
  await stream.cancel().catch(() => {});
  return concatPcm(parts);
}

// Publishes a sine at hz until stop() is called.
export function publishTone(room, hz) {
  const source = new AudioSource(48000, 1);
  const track = LocalAudioTrack.createAudioTrack('tone', source);
  let running = true;
  let phase = 0;
  const loop = (async () => {
    while (running) {
      const data = new Int16Array(480);
      for (let i = 0; i < data.length; i++) {
        data[i] = Math.round(8000 * Math.sin(phase));
        phase += (2 * Math.PI * hz) / 48000;
      }
      await source.captureFrame(new AudioFrame(data, 48000, 1, 480));
    }
  })();
  const published = room.localParticipant.publishTrack(
    track,
    new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }),
  );
  return {
    published,
    async stop() {
      running = false;
      await loop.catch(() => {});
      await source.close?.();
    },
  };
}

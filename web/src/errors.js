// The typed error tree, as phonedge/errors.py: every user mistake raises one of these with a message that says what to do.

/** Base class of every error phonedge raises on purpose. */
export class PhonedgeError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** The audio given to the recogniser cannot be used. */
export class AudioError extends PhonedgeError {}

/** A file exists but cannot be decoded as audio (empty, truncated, not a WAV this reader knows). */
export class AudioDecodeError extends AudioError {}

/** The audio is shorter than the model's receptive field. */
export class AudioTooShortError extends AudioError {}

/** An array input has the wrong type, sample rate or non-finite samples. */
export class InvalidAudioError extends AudioError {}

/** A bundle is missing, incomplete, corrupt or of another format version. */
export class ModelBundleError extends PhonedgeError {}

/** The bundle folder/URL, its manifest or its ONNX file does not exist. */
export class BundleNotFoundError extends ModelBundleError {}

/** An optional part is not there (in JS: a model file that was not loaded, such as Silero VAD's). */
export class MissingExtraError extends PhonedgeError {}

/** A scoring function was given values it cannot use. */
export class InvalidInputError extends PhonedgeError {}

/** A live stream was used wrongly. */
export class StreamError extends PhonedgeError {}

/** accept or finish was called on a stream after finish; call reset to start over. */
export class StreamClosedError extends StreamError {}

/** A block's sample rate differs from the rate the stream started with. */
export class StreamRateError extends StreamError {}

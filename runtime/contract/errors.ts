/**
 * Every error the companion answers with: one stable code, its HTTP status and a default message.
 * Every 4xx/5xx body is `{ error: { code, message, field? } }`.
 */
import * as z from 'zod';

export const ERRORS = {
  // request envelope
  bad_request: { status: 400, message: 'The HTTP request is malformed.' },
  bad_host: { status: 403, message: 'The Host header must be localhost:<port>, 127.0.0.1:<port> or [::1]:<port>.' },
  bad_origin: { status: 403, message: 'Requests are only accepted from the Figma plugin (Origin: null) or from tools that send no Origin.' },
  unauthorized: { status: 401, message: 'Missing or wrong token. Send "Authorization: Bearer <token>" (pair the plugin with POST /v1/pair).' },
  not_found: { status: 404, message: 'No such route.' },
  method_not_allowed: { status: 405, message: 'This route does not accept that method.' },
  unsupported_media_type: { status: 415, message: 'The body must be JSON: send "Content-Type: application/json".' },
  body_too_large: { status: 413, message: 'The request body is too large.' },
  invalid_json: { status: 400, message: 'The body is not valid JSON.' },
  request_timeout: { status: 408, message: 'The request did not arrive in time.' },
  // validation (field names the offending field)
  missing_field: { status: 400, message: 'A required field is missing.' },
  unknown_field: { status: 400, message: 'The request has a field this route does not accept.' },
  invalid_field: { status: 400, message: 'A field has a value that is not allowed.' },
  image_too_large: { status: 400, message: 'width × height is more than this machine can generate.' },
  unsupported_response_format: { status: 400, message: 'Only response_format "b64_json" is supported; this server does not host image URLs.' },
  invalid_job_id: { status: 400, message: 'Job ids are 1–64 characters of lowercase a–z, 0–9, "_" and "-", starting with a letter or digit, and not a Windows device name such as "con" or "nul".' },
  // jobs
  job_not_found: { status: 404, message: 'No job with that id.' },
  job_conflict: { status: 409, message: 'A job with this id already exists with different parameters.' },
  job_not_cancellable: { status: 409, message: 'The job has already finished.' },
  image_not_ready: { status: 409, message: 'The job has no image (yet): it is not done.' },
  image_missing: { status: 410, message: 'The image file of this job is gone from the data folder.' },
  queue_full: { status: 429, message: 'The job queue is full; try again when a job has finished.' },
  generation_failed: { status: 500, message: 'The image could not be generated.' },
  job_cancelled: { status: 409, message: 'The job was cancelled before it finished.' },
  // uploads and image-to-image
  payload_too_large: { status: 413, message: 'The image is larger than the upload limit.' },
  unsupported_image_type: { status: 415, message: 'Uploads must be image/png, image/jpeg or image/webp, sent as the raw body with that Content-Type.' },
  invalid_image: { status: 400, message: 'The body is not a readable image of the type it claims.' },
  image_dimensions_too_large: { status: 422, message: 'The image is too large in pixels (decompression bombs are refused before decoding).' },
  invalid_multipart: { status: 400, message: 'The multipart/form-data body is malformed.' },
  too_many_uploads: { status: 429, message: 'Too many images are being uploaded at once; try again in a moment.' },
  init_not_found: { status: 404, message: 'The init image names no upload or job of this companion (uploads expire 24 h after their last use).' },
  init_not_ready: { status: 409, message: 'The init job has no image: it is not done.' },
  // models
  model_not_found: { status: 404, message: 'No installed model or catalog entry by that name.' },
  pull_not_found: { status: 404, message: 'No model pull with that id.' },
  pull_not_cancellable: { status: 409, message: 'The pull has already ended.' },
  models_unavailable: { status: 503, message: 'This companion was started without a models folder; model pulls and switching are off.' },
  // pairing
  pairing_failed: { status: 401, message: 'Wrong pairing code.' },
  too_many_attempts: { status: 429, message: 'Too many wrong pairing codes; wait before trying again.' },
  // server
  storage_error: { status: 500, message: 'The job could not be saved to the data folder.' },
  shutting_down: { status: 503, message: 'The companion is shutting down.' },
  internal_error: { status: 500, message: 'Internal error.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;


export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.enum(Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    /** The request field the error is about. */
    field: z.string().optional(),
  }),
});
export type ErrorBody = z.output<typeof ErrorBodySchema>;

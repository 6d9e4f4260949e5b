// Package msgcrypt implements WeChat's message signature and AES envelope, the
// scheme Tencent's samples call WXBizMsgCrypt, with the standard library only.
//
// The format, as WeChat uses it for the third-party platform's pushes:
//
//   - EncodingAESKey is 43 characters of [A-Za-z0-9]; the AES-256 key is
//     base64(EncodingAESKey + "="), 32 bytes. The IV is the key's first 16 bytes.
//   - The plaintext is 16 random bytes ‖ uint32 big-endian len(msg) ‖ msg ‖ appid,
//     padded with PKCS#7 over a 32-byte block (pad bytes 1..32), encrypted with
//     AES-256-CBC and sent base64-encoded as Encrypt.
//   - msg_signature = hex(sha1(concatenation of sorted [token, timestamp, nonce,
//     Encrypt])); the unencrypted URL check signs [token, timestamp, nonce].
//   - A push body is <xml><AppId/>|<ToUserName/><Encrypt/></xml>; an encrypted
//     passive reply is <xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>.
//
// Opening a push checks, in this order, the signature (before touching the
// ciphertext, so that no padding oracle is exposed to unsigned input), the
// padding, the length field and the trailing appid. Every failure is one of the
// sentinel errors below, and no error string carries key material or plaintext.
package msgcrypt

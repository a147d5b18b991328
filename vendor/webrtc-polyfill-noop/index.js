// imgsrv runs BitTorrent over TCP only (no WebRTC peers). simple-peer imports
// these names at load time, so they must exist; constructing one is a bug.
class Unsupported {
  constructor () {
    throw new Error('WebRTC is not available in imgsrv (TCP-only swarm)')
  }
}
export const RTCPeerConnection = Unsupported
export const RTCSessionDescription = Unsupported
export const RTCIceCandidate = Unsupported
export default { RTCPeerConnection, RTCSessionDescription, RTCIceCandidate }

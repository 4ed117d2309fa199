import CSystemd
import Glibc

/// Sockets handed to this process by systemd (`LISTEN_FDS`/`LISTEN_FDNAMES`), from a
/// socket unit or the unit's file-descriptor store.
public struct ListenDescriptors: Sendable {
    /// Descriptor and name, in the order systemd passed them.
    public let descriptors: [(descriptor: Int32, name: String)]

    /// Takes the descriptors passed to this process and clears the `LISTEN_*` variables
    /// so child processes do not see them.
    public static func take() -> ListenDescriptors {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        guard count > 0 else { return ListenDescriptors(descriptors: []) }
        defer {
            if let names {
                for index in 0..<Int(count) { free(names[index]) }
                free(names)
            }
        }
        let descriptors = (0..<Int(count)).map { index in
            let name = names?[index].map { String(cString: $0) } ?? "unknown"
            return (descriptor: SD_LISTEN_FDS_START + Int32(index), name: name)
        }
        return ListenDescriptors(descriptors: descriptors)
    }

    /// Every listening stream socket named `name`, each once: a socket unit with several
    /// `ListenStream=` (IPv4 and IPv6, say) passes several, and a socket both from the
    /// socket unit and from the fd store comes twice (the second copy is closed, as is any
    /// descriptor of that name that is not a listening stream socket).
    ///
    /// With none of that name, the listening stream sockets passed when they all have one
    /// name, whatever it is: a socket unit without `FileDescriptorName=` names its sockets
    /// after itself (`baton.socket`), and `systemd-socket-activate` without `--fdname` not
    /// at all (`unknown`). Binding `listen` beside them would fail on the very port.
    public func takeListeners(named name: String) -> [Int32] {
        let named = descriptors.filter { $0.name == name }
        let candidates = named.isEmpty ? descriptors.filter { isListeningStream($0.descriptor) } : named
        guard !named.isEmpty || Set(candidates.map(\.name)).count == 1 else { return [] }
        var chosen: [Int32] = []
        var seen: Set<SocketIdentity> = []
        for entry in candidates {
            if isListeningStream(entry.descriptor), let identity = SocketIdentity(entry.descriptor), seen.insert(identity).inserted {
                chosen.append(entry.descriptor)
            } else {
                close(entry.descriptor)
            }
        }
        return chosen
    }

    /// One socket, however many descriptors refer to it.
    private struct SocketIdentity: Hashable {
        var device: UInt64
        var inode: UInt64

        init?(_ descriptor: Int32) {
            var status = stat()
            guard fstat(descriptor, &status) == 0 else { return nil }
            device = UInt64(status.st_dev)
            inode = UInt64(status.st_ino)
        }
    }

    private func isListeningStream(_ descriptor: Int32) -> Bool {
        sd_is_socket(descriptor, AF_UNSPEC, Int32(SOCK_STREAM.rawValue), 1) > 0
    }
}

extension ListenDescriptors: CustomStringConvertible {
    public var description: String {
        descriptors.map { "\($0.name)=\($0.descriptor)" }.joined(separator: ",")
    }
}

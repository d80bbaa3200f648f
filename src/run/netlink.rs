//! The few rtnetlink requests a bridge needs: a veth pair, an address, a link up, a
//! default route. `netlink-packet-route` builds and parses the messages; this module
//! sends each on a socket of the namespace it applies to (a netlink socket acts in
//! the network namespace it was made in) and waits for the kernel's acknowledgement.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// A route socket of the calling thread's network namespace at the time it was opened.
pub struct Rtnl {
    socket: Socket,
    sequence: u32,
}

impl Rtnl {
    pub fn open() -> io::Result<Rtnl> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Rtnl {
            socket,
            sequence: 0,
        })
    }

    /// A veth pair: `name` here, `peer` in the namespace `peer_ns` refers to.
    pub fn add_veth(&mut self, name: &str, peer: &str, peer_ns: BorrowedFd) -> io::Result<()> {
        let mut peer_link = LinkMessage::default();
        peer_link.attributes = vec![
            LinkAttribute::IfName(peer.to_string()),
            LinkAttribute::NetNsFd(peer_ns.as_raw_fd()),
        ];
        let mut link = LinkMessage::default();
        link.attributes = vec![
            LinkAttribute::IfName(name.to_string()),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_link))),
            ]),
        ];
        self.request(
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Brings interface `name` up.
    pub fn set_up(&mut self, name: &str) -> io::Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index_of(name)?;
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(link), 0)
    }

    /// `addr/prefix` on interface `name`.
    pub fn add_address(&mut self, name: &str, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut message = AddressMessage::default();
        message.header.family = AddressFamily::Inet;
        message.header.prefix_len = prefix;
        message.header.index = index_of(name)?;
        message.attributes = vec![
            AddressAttribute::Local(addr.into()),
            AddressAttribute::Address(addr.into()),
        ];
        self.request(
            RouteNetlinkMessage::NewAddress(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// The default route, through `gateway`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> io::Result<()> {
        let mut message = RouteMessage::default();
        message.header.address_family = AddressFamily::Inet;
        message.header.table = RouteHeader::RT_TABLE_MAIN;
        message.header.protocol = RouteProtocol::Boot;
        message.header.scope = RouteScope::Universe;
        message.header.kind = RouteType::Unicast;
        message.attributes = vec![RouteAttribute::Gateway(RouteAddress::Inet(gateway))];
        self.request(
            RouteNetlinkMessage::NewRoute(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Sends one request and waits for its acknowledgement (or the error the kernel
    /// answered with, as an errno).
    fn request(&mut self, message: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.sequence += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        loop {
            let (data, _) = self.socket.recv_from_full()?;
            let mut at = 0;
            while at < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[at..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let length = reply.header.length as usize;
                if reply.header.sequence_number == self.sequence {
                    if let NetlinkPayload::Error(e) = reply.payload {
                        return match e.code {
                            None => Ok(()),
                            Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                        };
                    }
                }
                if length == 0 {
                    break;
                }
                at += length;
            }
        }
    }
}

/// The index of interface `name` in the calling thread's network namespace.
fn index_of(name: &str) -> io::Result<u32> {
    let c_name = std::ffi::CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: if_nametoindex reads the NUL-terminated name it is given.
    match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        index => Ok(index),
    }
}

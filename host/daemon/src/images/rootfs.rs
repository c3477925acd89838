//! A writable rootfs on an image: a new layer on the image's top layer, mounted by the
//! storage plugin's mount plan. Containers are built on it.

use hostctl_plugin_runtime::MountedLayer;

use super::{ImageError, ImageService};

impl ImageService {
    /// Create writable layer `id` on `image`'s layers and mount its merged view.
    pub fn mount_rootfs(&self, image: &str, id: &str) -> Result<MountedLayer, ImageError> {
        let record = self.resolve(image)?;
        let top = record.layers.last().map(|c| c.hex());
        self.storage.create_layer(id, top.as_deref())?;
        match self.storage.mount(id) {
            Ok(mounted) => Ok(mounted),
            Err(err) => {
                if let Err(cleanup) = self.storage.remove(id) {
                    tracing::error!(layer = id, "removing a layer that failed to mount: {cleanup}");
                }
                Err(err.into())
            }
        }
    }

    /// Unmount and remove writable layer `id`.
    pub fn remove_rootfs(&self, id: &str, mounted: &MountedLayer) -> Result<(), ImageError> {
        self.storage.unmount(id, mounted)?;
        self.storage.remove(id)?;
        Ok(())
    }
}

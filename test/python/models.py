"""The ORM model of the tests: alarm panels and their sensors (SQLAlchemy 1.4).

AlarmPanel.sensors uses the default loader strategy, lazy='select': reading
panel.sensors runs one SELECT per panel the first time, the classic N+1.
"""
from sqlalchemy import Boolean, Column, ForeignKey, Integer, Text
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


class AlarmPanel(Base):
    __tablename__ = "alarm_panels"

    id = Column(Integer, primary_key=True)
    mac_address = Column(Text, nullable=False)
    is_online = Column(Boolean, nullable=False, default=False)

    sensors = relationship("Sensor", back_populates="panel", order_by="Sensor.id")


class Sensor(Base):
    __tablename__ = "sensors"

    id = Column(Integer, primary_key=True)
    panel_id = Column(Integer, ForeignKey("alarm_panels.id"), nullable=False)
    kind = Column(Text, nullable=False)

    panel = relationship("AlarmPanel", back_populates="sensors")
